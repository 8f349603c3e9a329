// Which peer, if any, answers a model request this board should not: pure choices over the peer list
// the mesh keeps from heartbeats, so the ranking is tested as a table.

/** A peer as routing sees it; the mesh's `MeshPeer` has this shape. */
export interface RoutablePeer {
  name: string;
  role: string;
  fingerprint: string;
  state: string;
  addresses: readonly string[];
  adminPort?: number;
  models?: readonly { name: string; loaded: boolean; tokensPerSecond?: number }[];
}

/** How this node stands with the requested model. */
export type LocalState = "available" | "missing" | "does-not-fit";

export interface RouteQuestion {
  local: LocalState;
  /** The config names the model in models.routeModels: always a peer's job. */
  configForce: boolean;
  /** The request came from a peer already: answering it elsewhere again could loop. */
  forwarded?: boolean;
}

/** Pure: whether to look for a peer at all. */
export function shouldRoute(q: RouteQuestion): boolean {
  if (q.forwarded) return false;
  return q.configForce || q.local !== "available";
}

// "online" is broker presence without heartbeats yet; degraded peers are left out, since a peer that
// misses heartbeats is likely to stall mid-answer too.
const ANSWERING = new Set(["healthy", "online"]);

/** Speed a peer advertises for a model; an unmeasured one ranks below any measured one. */
function speedOf(peer: RoutablePeer, model: string): number {
  return peer.models?.find((m) => m.name === model)?.tokensPerSecond ?? -1;
}

/** Pure: whether a peer can be asked for `model` now. */
export function canServe(peer: RoutablePeer, model: string): boolean {
  return (
    ANSWERING.has(peer.state) &&
    peer.addresses.length > 0 &&
    (peer.adminPort ?? 0) > 0 &&
    peer.fingerprint !== "" &&
    (peer.models?.some((m) => m.name === model && m.loaded) ?? false)
  );
}

/**
 * Pure: the peer that has `model` loaded and answers, best first: the hub (the fleet's strongest
 * board by design), then the highest measured tokens per second, then by name so the choice is stable.
 */
export function choosePeer<P extends RoutablePeer>(peers: readonly P[], model: string): P | undefined {
  const hub = (p: RoutablePeer) => (p.role === "hub" ? 0 : 1);
  return peers
    .filter((p) => canServe(p, model))
    .sort(
      (a, b) =>
        hub(a) - hub(b) ||
        speedOf(b, model) - speedOf(a, model) ||
        (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
    )[0];
}

/** Pure: the base URL of a peer's HTTP listener; IPv4 first, as most LANs route it more reliably. */
export function peerBaseUrl(peer: RoutablePeer): string | undefined {
  const addr = peer.addresses.find((a) => !a.includes(":")) ?? peer.addresses[0];
  if (!addr || !peer.adminPort) return undefined;
  return `http://${addr.includes(":") ? `[${addr}]` : addr}:${peer.adminPort}`;
}
