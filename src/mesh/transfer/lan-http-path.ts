// The LAN bulk path: the sender serves shared files over plain HTTP with Range support, each request
// authorised by a short-lived signed envelope; the receiver streams from its resume point to disk.
import { describeError, isKianaError, kianaError } from "../../errors.ts";
import { type Clock, systemClock } from "../../platform/clock.ts";
import { checkHttpToken, mintHttpToken } from "./auth.ts";
import type { FetchRequest, FileCatalog, Open, Seal, TransferPath } from "./ports.ts";

export const TRANSFER_ROUTE = "/kiana/v1/transfer/";

export interface LanHttpHandlerOptions {
  catalog: FileCatalog;
  /** Opens authorisation envelopes; give it its own replay guard. */
  open: Open;
  /** This node's fingerprint: tokens must be addressed to it. */
  audience: string;
  clock?: Pick<Clock, "now">;
  onRefused?: (detail: { status: number; detail: string }) => void;
}

/** Parses a single `bytes=a-b` / `bytes=a-` range; undefined for anything else. */
export function parseRange(header: string, size: number): { start: number; end: number } | undefined {
  const m = /^bytes=(\d+)-(\d*)$/.exec(header.trim());
  if (!m?.[1]) return undefined;
  const start = Number(m[1]);
  const end = m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
  if (!Number.isSafeInteger(start) || start >= size || end < start) return undefined;
  return { start, end };
}

/** The request handler, usable on its own (`handler(new Request(...))`) or behind Bun.serve. */
export function createLanHttpHandler(opts: LanHttpHandlerOptions): (req: Request) => Response {
  const clock = opts.clock ?? systemClock;
  const deny = (
    status: 401 | 403 | 404 | 405 | 416,
    detail: string,
    headers: Record<string, string> = {},
  ) => {
    try {
      opts.onRefused?.({ status, detail });
    } catch {
      // reporting must not change the answer
    }
    return new Response(`${detail}\n`, { status, headers: { "content-type": "text/plain", ...headers } });
  };
  return (req) => {
    const url = new URL(req.url);
    if (!url.pathname.startsWith(TRANSFER_ROUTE)) return deny(404, "not found");
    if (req.method !== "GET" && req.method !== "HEAD") return deny(405, "only GET and HEAD");
    const id = url.pathname.slice(TRANSFER_ROUTE.length);
    // Authorisation first, so that an unauthorised caller learns nothing about which ids exist.
    const token = checkHttpToken(opts.open, req.headers.get("authorization"), {
      id,
      audience: opts.audience,
      now: clock.now(),
    });
    if (!token.ok) return deny(token.status, token.detail);
    const file = opts.catalog.get(id);
    if (!file) return deny(404, `no shared file ${id}`);
    if (file.allow && !file.allow.has(token.from)) return deny(403, "this peer may not fetch this file");
    const { size, sha256 } = file.offer;
    const common = {
      "accept-ranges": "bytes",
      etag: `"${sha256}"`,
      "content-type": "application/octet-stream",
    };
    const rangeHeader = req.headers.get("range");
    if (!rangeHeader)
      return new Response(Bun.file(file.path), { headers: { ...common, "content-length": `${size}` } });
    const range = parseRange(rangeHeader, size);
    if (!range)
      return deny(416, `bad range ${rangeHeader} for ${size} bytes`, { "content-range": `bytes */${size}` });
    return new Response(Bun.file(file.path).slice(range.start, range.end + 1), {
      status: 206,
      headers: {
        ...common,
        "content-range": `bytes ${range.start}-${range.end}/${size}`,
        "content-length": `${range.end - range.start + 1}`,
      },
    });
  };
}

export interface LanHttpServerOptions extends LanHttpHandlerOptions {
  /** The node's LAN address; tests use 127.0.0.1. */
  hostname: string;
  /** 0 picks a free port. */
  port?: number;
}

export interface LanHttpServer {
  readonly url: string;
  stop(): Promise<void>;
}

export function startLanHttpServer(opts: LanHttpServerOptions): LanHttpServer {
  const handler = createLanHttpHandler(opts);
  const server = Bun.serve({
    hostname: opts.hostname,
    port: opts.port ?? 0,
    idleTimeout: 30,
    fetch: handler,
  });
  return {
    url: `http://${opts.hostname}:${server.port}`,
    // Forced: open downloads are cut, which is what a resumable receiver is built for.
    stop: () => server.stop(true),
  };
}

export interface LanHttpPathOptions {
  /** Seals authorisation envelopes as this node. */
  seal: Seal;
  clock?: Pick<Clock, "now">;
  /** Token lifetime; it only has to cover the start of one request. */
  tokenTtlMs?: number;
  fetch?: typeof fetch;
}

export function createLanHttpPath(opts: LanHttpPathOptions): TransferPath {
  const clock = opts.clock ?? systemClock;
  const doFetch = opts.fetch ?? fetch;
  return {
    name: "lan-http",
    async fetch({ offer, peer, sink, signal }: FetchRequest) {
      if (sink.offset === offer.size) return;
      if (!peer.httpUrl)
        throw kianaError("TRANSFER_PATH_UNAVAILABLE", `${peer.node} announced no LAN HTTP address`, {
          path: "lan-http",
        });
      const from = sink.offset;
      const authorization = mintHttpToken(opts.seal, {
        id: offer.id,
        audience: peer.fingerprint,
        now: clock.now(),
        ttlMs: opts.tokenTtlMs ?? 60_000,
      });
      let res: Response;
      try {
        res = await doFetch(`${peer.httpUrl}${TRANSFER_ROUTE}${offer.id}`, {
          headers: { authorization, range: `bytes=${from}-` },
          signal,
        });
      } catch (cause) {
        throw signal.aborted && signal.reason
          ? signal.reason
          : kianaError(
              "TRANSFER_PATH_UNAVAILABLE",
              `cannot reach ${peer.httpUrl}: ${describeError(cause)}`,
              {},
              cause,
            );
      }
      if (res.status === 401 || res.status === 403)
        throw kianaError(
          "TRANSFER_UNAUTHORIZED",
          `${peer.node} refused the transfer: ${(await res.text()).trim()}`,
          {
            status: res.status,
          },
        );
      const expected = `bytes ${from}-${offer.size - 1}/${offer.size}`;
      if (res.status !== 206 || res.headers.get("content-range") !== expected || !res.body) {
        await res.body?.cancel();
        throw kianaError(
          "TRANSFER_PATH_UNAVAILABLE",
          `${peer.node} answered ${res.status} to range ${from}-`,
          {
            status: res.status,
          },
        );
      }
      try {
        for await (const chunk of res.body) await sink.append(chunk);
      } catch (cause) {
        if (signal.aborted && signal.reason) throw signal.reason;
        if (isKianaError(cause)) throw cause;
        throw kianaError(
          "TRANSFER_FAILED",
          `download from ${peer.node} broke off: ${describeError(cause)}`,
          {},
          cause,
        );
      }
      if (sink.offset !== offer.size)
        throw kianaError(
          "TRANSFER_FAILED",
          `download from ${peer.node} ended at ${sink.offset} of ${offer.size}`,
        );
    },
  };
}
