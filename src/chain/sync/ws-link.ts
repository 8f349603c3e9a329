// Chain sync over a WebSocket on the node's HTTP listener (`/kiana/v1/chain/sync`): the LAN path
// between enrolled devices and for `kiana chain sync --peer`. Both ends prove their enrolment (see
// link-auth.ts), then frames flow as binary messages under the sync protocol's credit window.
import type { Server, ServerWebSocket, WebSocketHandler } from "bun";
import { kianaError } from "../../errors.ts";
import type { Certificate } from "../../identity/enrolment.ts";
import {
  answerChallenge,
  checkAnswer,
  type LinkFleet,
  type LinkIdentity,
  makeChallenge,
  makeHello,
  readHello,
} from "./link-auth.ts";
import type { SyncPort } from "./ports.ts";
import { createQueuePort, type QueuePort } from "./queue-port.ts";

export const CHAIN_SYNC_ROUTE = "/kiana/v1/chain/sync";

/** What the server keeps per sync WebSocket (Bun's `ws.data`). */
export interface WsSyncConnection {
  kind: "chain-sync";
  hello: { nonce: Uint8Array; clientFp: string };
  nonce?: Uint8Array;
  port?: QueuePort;
}

export interface WsSyncServerOptions {
  serverFp: string;
  /** The fleet a client must be enrolled in; undefined while this device has not joined one. */
  fleet(): LinkFleet | undefined;
  /** This device's certificate and key, to prove itself to clients; undefined while not enrolled. */
  identity(): LinkIdentity | undefined;
  now(): number;
  /** Runs one authenticated session (the responder); the port closes when it returns. */
  serve(port: SyncPort, peer: string, certificate: Certificate): Promise<void>;
  onRefused?(reason: string): void;
  maxConnections?: number;
}

export function createWsSyncServer(opts: WsSyncServerOptions) {
  let open = 0;
  const max = opts.maxConnections ?? 8;
  const websocket: WebSocketHandler<WsSyncConnection> = {
    open(ws) {
      open++;
      const me = opts.identity();
      if (!me) return ws.close(4401, "this device has not joined a fleet");
      const { nonce, frame } = makeChallenge(me, ws.data.hello);
      ws.data.nonce = nonce;
      ws.send(frame);
    },
    message(ws, message) {
      const bytes = typeof message === "string" ? new TextEncoder().encode(message) : new Uint8Array(message);
      if (ws.data.port) return ws.data.port.push(bytes);
      const fleet = opts.fleet();
      const verdict =
        fleet && ws.data.nonce
          ? checkAnswer(bytes, {
              nonce: ws.data.nonce,
              serverFp: opts.serverFp,
              clientFp: ws.data.hello.clientFp,
              fleet,
              now: opts.now(),
            })
          : { ok: false as const, reason: "this device has not joined a fleet" };
      if (!verdict.ok) {
        opts.onRefused?.(verdict.reason);
        return ws.close(4401, verdict.reason.slice(0, 120));
      }
      const port = portOver(ws);
      ws.data.port = port;
      void opts.serve(port, verdict.peer, verdict.certificate).finally(() => port.close());
    },
    close(ws) {
      open--;
      ws.data.port?.end();
    },
    // Frames are at most ~1 MiB; a larger message is a broken or hostile peer.
    maxPayloadLength: 2 * 1024 * 1024,
    idleTimeout: 120,
  };
  return {
    websocket,
    /** The route handler: upgrades when allowed, else answers why not. */
    upgrade(request: Request, server: Server<WsSyncConnection>): Response | undefined {
      if (!opts.fleet() || !opts.identity())
        return new Response("chain sync needs an enrolled device\n", { status: 503 });
      if (open >= max) return new Response("too many sync sessions\n", { status: 503 });
      const hello = readHello(new URL(request.url));
      if (!hello.ok) {
        opts.onRefused?.(hello.reason);
        return new Response(`${hello.reason}\n`, { status: 400 });
      }
      if (server.upgrade(request, { data: { kind: "chain-sync", hello } })) return undefined;
      return new Response("chain sync speaks WebSocket only\n", { status: 426 });
    },
    connections: () => open,
  };
}

function portOver(ws: ServerWebSocket<WsSyncConnection>): QueuePort {
  return createQueuePort({ send: (frame) => void ws.send(frame), close: () => ws.close(1000) });
}

export interface WsSyncConnectOptions {
  /** The fleet the server must be enrolled in. */
  fleet: LinkFleet;
  now(): number;
  /** The fingerprint of the peer meant, when known: any other server is refused. */
  server?: string;
  timeoutMs?: number;
}

/**
 * Connects to a peer's sync route and authenticates both ways; the port is ready for `pullFrom`.
 * A server that does not prove itself is refused (CHAIN_SYNC_REFUSED, the reason in the message).
 */
export async function connectWsSync(
  url: string,
  me: LinkIdentity,
  opts: WsSyncConnectOptions,
): Promise<{
  port: SyncPort;
  peer: string;
  /** Sync frame bytes each way, and the WebSocket framing around them (headers and client masks). */
  bytes: () => { sent: number; received: number; framing: number };
  /** Why the server closed the link, once it has. */
  closedBecause: () => string | undefined;
}> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const target = new URL(CHAIN_SYNC_ROUTE, url.replace(/^http/, "ws"));
  const hello = makeHello(me);
  for (const [k, v] of Object.entries(hello.query)) target.searchParams.set(k, v);
  const ws = new WebSocket(target.href);
  ws.binaryType = "arraybuffer";
  const counts = { sent: 0, received: 0, framing: 0 };
  // RFC 6455: 2 header bytes, 2 or 8 more for longer payloads, 4 for the mask on client frames.
  const frameOverhead = (n: number, masked: boolean) =>
    2 + (n > 65535 ? 8 : n > 125 ? 2 : 0) + (masked ? 4 : 0);
  const port = createQueuePort({
    send(frame) {
      counts.sent += frame.length;
      counts.framing += frameOverhead(frame.length, true);
      ws.send(frame);
    },
    close: () => ws.close(1000),
  });
  const first = Promise.withResolvers<Uint8Array>();
  let challenged = false;
  ws.onmessage = (ev) => {
    const bytes = new Uint8Array(ev.data as ArrayBuffer);
    counts.received += bytes.length;
    counts.framing += frameOverhead(bytes.length, false);
    if (challenged) return port.push(bytes);
    challenged = true;
    first.resolve(bytes);
  };
  let closedBecause: string | undefined;
  ws.onclose = (ev) => {
    closedBecause = ev.reason || `code ${ev.code}`;
    port.end();
    first.reject(
      kianaError("CHAIN_SYNC_UNAVAILABLE", `${target.host} closed the sync link: ${ev.reason || ev.code}`),
    );
  };
  ws.onerror = () =>
    first.reject(kianaError("CHAIN_SYNC_UNAVAILABLE", `cannot open a sync link to ${target.host}`));
  const timer = setTimeout(
    () =>
      first.reject(
        kianaError("CHAIN_SYNC_UNAVAILABLE", `${target.host} did not answer within ${timeoutMs} ms`),
      ),
    timeoutMs,
  );
  try {
    const answer = answerChallenge(await first.promise, me, {
      nonce: hello.nonce,
      fleet: opts.fleet,
      now: opts.now(),
      server: opts.server,
    });
    if (!answer.ok)
      throw kianaError("CHAIN_SYNC_REFUSED", `refused the sync server at ${target.host}: ${answer.reason}`, {
        reason: answer.reason,
        server: opts.server,
      });
    ws.send(answer.frame);
    counts.sent += answer.frame.length;
    counts.framing += frameOverhead(answer.frame.length, true);
    return { port, peer: answer.server, bytes: () => ({ ...counts }), closedBecause: () => closedBecause };
  } catch (err) {
    ws.close();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
