// The `route` that openai-api.ts consults: decides whether a request leaves this board, picks the
// peer and forwards it. The mesh's peer list and the forwarder come in, so tests wire two nodes in-process.
import type { RouteContext } from "./openai-api.ts";
import { FORWARDED_HEADER, type PeerForwarder } from "./peer-forwarder.ts";
import { choosePeer, peerBaseUrl, type RoutablePeer, shouldRoute } from "./routing.ts";

export interface PeerRouteOptions {
  /** The mesh's current peers (empty without a mesh). */
  peers: () => readonly RoutablePeer[];
  forwarder: PeerForwarder;
  /** models.routeModels: always answered by a peer. */
  routeModels: readonly string[];
  log?: { info(obj: object, msg?: string): void };
}

export type PeerRoute = (
  model: string,
  body: Record<string, unknown>,
  ctx: RouteContext,
) => Promise<Response | undefined>;

export function createPeerRoute(opts: PeerRouteOptions): PeerRoute {
  const forced = new Set(opts.routeModels);
  return async (model, body, { local, request }) => {
    const configForce = forced.has(model);
    const forwarded = request.headers.has(FORWARDED_HEADER);
    if (!shouldRoute({ local, configForce, forwarded })) return undefined;
    const peer = choosePeer(opts.peers(), model);
    const url = peer && peerBaseUrl(peer);
    if (!peer || !url) {
      // Missing or too big here: the local answer (404, 503) says so. Forced: running it here
      // anyway is what the config ruled out.
      if (!configForce) return undefined;
      const message = `'${model}' is served by peers only (models.routeModels), and no peer has it loaded now`;
      return Response.json(
        { error: { message, type: "server_error", param: "model", code: "no_peer_available" } },
        { status: 503 },
      );
    }
    const path = new URL(request.url).pathname;
    opts.log?.info({ model, peer: peer.name, local, path }, "model request sent to a peer");
    return opts.forwarder.forward(
      { name: peer.name, fingerprint: peer.fingerprint, url },
      path,
      body,
      request.signal,
    );
  };
}
