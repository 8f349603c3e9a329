// Sends an OpenAI request on to a peer's /v1 and hands its answer back as it comes, so a board too
// weak for a model still answers; a peer that dies or stalls mid-answer ends in a clear error event.
import { describeError } from "../errors.ts";
import type { Seal } from "../mesh/transfer/ports.ts";
import { type Clock, systemClock } from "../platform/clock.ts";
import { peerToken } from "./peer-auth.ts";

/** Set on every forwarded request: its receiver answers itself or refuses, never forwards again. */
export const FORWARDED_HEADER = "x-kiana-forwarded";
/** Names the peer that answered, for clients and logs that wonder why a reply took the time it did. */
export const SERVED_BY_HEADER = "x-kiana-served-by";

export interface ForwardTarget {
  name: string;
  /** The peer's signing-key fingerprint: the token is addressed to it alone. */
  fingerprint: string;
  /** Base URL of its HTTP listener, e.g. `http://10.0.0.5:8470`. */
  url: string;
}

export interface PeerForwarderOptions {
  /** Seals the peer token as this node. */
  seal: Seal;
  clock?: Pick<Clock, "now" | "setTimeout">;
  /** Longest silence between two chunks of the peer's answer. Default 30 s. */
  idleMs?: number;
  /** Longest a whole exchange may take, a model load on the peer included. Default 10 min. */
  totalMs?: number;
  /** Largest non-streaming answer kept in memory before it is passed on. Default 128 MiB. */
  maxBodyBytes?: number;
  fetch?: (url: string, init: RequestInit) => Promise<Response>;
}

export interface PeerForwarder {
  /** `path` is under /v1 (`/v1/chat/completions`); `signal` is the client's, ending the exchange. */
  forward(peer: ForwardTarget, path: string, body: unknown, signal?: AbortSignal): Promise<Response>;
}

const peerFailed = (message: string) => ({
  error: { message, type: "server_error", param: null, code: "peer_failed" },
});

/** Pure: whether an SSE text ends with a finished answer: `[DONE]`, or an error event from the peer. */
export function finishedSse(tail: string): boolean {
  if (!tail.endsWith("\n\n")) return false;
  const last = tail.slice(tail.lastIndexOf("\n\n", tail.length - 3) + 2);
  return last.startsWith("data: [DONE]") || last.startsWith('data: {"error"');
}

/** A network error as an API client should read it: Bun's advice to fetch's caller is not for them. */
export function plainFailure(err: unknown): string {
  return describeError(err)
    .replace(/\s*For more information, pass `verbose: true`[^.]*\.?/g, "")
    .trim();
}

export function createPeerForwarder(opts: PeerForwarderOptions): PeerForwarder {
  const clock = opts.clock ?? systemClock;
  const idleMs = opts.idleMs ?? 30_000;
  const totalMs = opts.totalMs ?? 10 * 60_000;
  const maxBody = opts.maxBodyBytes ?? 128 * 2 ** 20;
  const fetchFn = opts.fetch ?? ((url, init) => fetch(url, init));

  async function forward(peer: ForwardTarget, path: string, body: unknown, signal?: AbortSignal) {
    const abort = new AbortController();
    let why = "";
    const stop = (reason: string) => {
      why ||= reason;
      abort.abort();
    };
    const cancelTotal = clock.setTimeout(
      () => stop(`no complete answer within ${totalMs / 1000} s`),
      totalMs,
    );
    const onClientGone = () => stop("the client went away");
    signal?.addEventListener("abort", onClientGone, { once: true });
    let cancelIdle = () => {};
    const finish = () => {
      cancelTotal();
      cancelIdle();
      signal?.removeEventListener("abort", onClientGone);
    };
    /** One read of the peer's body, given up (and the connection with it) after idleMs of silence. */
    const read = async (reader: ReadableStreamDefaultReader<Uint8Array>) => {
      cancelIdle = clock.setTimeout(() => stop(`nothing for ${idleMs / 1000} s`), idleMs);
      try {
        return await reader.read();
      } finally {
        cancelIdle();
      }
    };
    const failure = (err: unknown) => why || plainFailure(err);

    let res: Response;
    try {
      res = await fetchFn(`${peer.url}${path}`, {
        method: "POST",
        // Built afresh: the client's own bearer token is for this node and never leaves it.
        headers: {
          "content-type": "application/json",
          authorization: peerToken(opts.seal, peer.fingerprint, clock.now()),
          [FORWARDED_HEADER]: "1",
        },
        body: JSON.stringify(body),
        signal: abort.signal,
        redirect: "manual",
      });
    } catch (err) {
      finish();
      return Response.json(peerFailed(`peer ${peer.name} did not answer: ${failure(err)}`), { status: 502 });
    }
    const headers = {
      "content-type": res.headers.get("content-type") ?? "application/json",
      [SERVED_BY_HEADER]: peer.name,
    };
    const source = res.body ?? new ReadableStream<Uint8Array>({ start: (c) => c.close() });
    const reader = source.getReader() as ReadableStreamDefaultReader<Uint8Array>;

    if (!headers["content-type"].startsWith("text/event-stream")) {
      // Whole answers are collected first: a peer failing halfway can then still become a clean 502.
      const parts: Uint8Array[] = [];
      try {
        for (let size = 0; ; ) {
          const r = await read(reader);
          if (r.done) break;
          size += r.value.length;
          if (size > maxBody) throw new Error(`the answer exceeds ${maxBody} bytes`);
          parts.push(r.value);
        }
      } catch (err) {
        const message = `peer ${peer.name} failed mid-answer: ${failure(err)}`;
        abort.abort();
        return Response.json(peerFailed(message), { status: 502 });
      } finally {
        finish();
      }
      return new Response(Buffer.concat(parts), { status: res.status, headers });
    }

    const enc = new TextEncoder();
    const dec = new TextDecoder();
    let tail = "";
    const stream = new ReadableStream<Uint8Array>({
      async pull(c) {
        let problem: string;
        try {
          const r = await read(reader);
          if (!r.done) {
            tail = (tail + dec.decode(r.value, { stream: true }).replaceAll("\r\n", "\n")).slice(-4096);
            return c.enqueue(r.value);
          }
          if (finishedSse(tail)) {
            finish();
            return c.close();
          }
          problem = "the stream ended before the answer was complete";
        } catch (err) {
          problem = failure(err);
        }
        finish();
        // The peer may have died inside an event: the error must start an event of its own.
        const gap = tail === "" || tail.endsWith("\n\n") ? "" : "\n\n";
        const event = peerFailed(`peer ${peer.name} stopped answering mid-stream: ${problem}`);
        c.enqueue(enc.encode(`${gap}data: ${JSON.stringify(event)}\n\n`));
        c.close();
      },
      cancel() {
        stop("the client went away");
        finish();
      },
    });
    return new Response(stream, { status: res.status, headers: { ...headers, "cache-control": "no-cache" } });
  }

  return { forward };
}
