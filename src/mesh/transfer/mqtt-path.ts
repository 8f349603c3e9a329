// The fallback path: chunks over the mesh bus as signed envelopes (QoS 1). The receiver asks for a
// window of chunks from its resume point, the next window once that one is written, and asks again
// for what is missing when the flow stops, so a dropped client resumes instead of starting over.
import { randomBytes } from "node:crypto";
import { describeError, kianaError } from "../../errors.ts";
import { type Clock, systemClock } from "../../platform/clock.ts";
import type { MessageTransport } from "../ports.ts";
import { fleetPattern, nodeTopic } from "../topics.ts";
import { createAttemptOutcome } from "./attempt.ts";
import { createChunkLedger } from "./manifest.ts";
import type { FetchRequest, FileCatalog, Open, Seal, TransferPath } from "./ports.ts";

export const REQUEST_TYPE = "xfer.req";
export const CHUNK_TYPE = "xfer.chunk";
export const ERROR_TYPE = "xfer.err";
const MAX_OFFSETS = 64;
const SESSION = /^[0-9a-f]{32}$/;
const NODE = /^[a-z0-9][a-z0-9._-]*$/i;

interface ChunkHeader {
  session: string;
  offset: number;
}

/** Chunk body: u32 header length | JSON header | bytes. */
export function encodeChunk(h: ChunkHeader, bytes: Uint8Array): Uint8Array {
  const head = new TextEncoder().encode(JSON.stringify(h));
  const out = new Uint8Array(4 + head.length + bytes.length);
  new DataView(out.buffer).setUint32(0, head.length);
  out.set(head, 4);
  out.set(bytes, 4 + head.length);
  return out;
}

export function decodeChunk(body: Uint8Array): { header: ChunkHeader; bytes: Uint8Array } | undefined {
  if (body.length < 4) return undefined;
  const len = new DataView(body.buffer, body.byteOffset, body.byteLength).getUint32(0);
  if (len > 512 || 4 + len > body.length) return undefined;
  try {
    const h = JSON.parse(new TextDecoder().decode(body.subarray(4, 4 + len))) as Partial<ChunkHeader>;
    if (typeof h.session !== "string" || !Number.isSafeInteger(h.offset)) return undefined;
    return { header: { session: h.session, offset: h.offset as number }, bytes: body.subarray(4 + len) };
  } catch {
    return undefined;
  }
}

export interface MqttTransferServerOptions {
  transport: MessageTransport;
  fleet: string;
  node: string;
  catalog: FileCatalog;
  seal: Seal;
  open: Open;
  onRefused?: (detail: string) => void;
}

/** Serves chunk requests addressed to this node on `kiana/v1/<fleet>/<requester>/xfer/<node>`. */
export async function startMqttTransferServer(
  opts: MqttTransferServerOptions,
): Promise<{ close(): Promise<void> }> {
  nodeTopic(opts.fleet, opts.node);
  const te = new TextEncoder();
  // One request at a time per session, so chunks leave in the order they were asked for.
  const queues = new Map<string, Promise<void>>();
  const refuse = (detail: string) => {
    try {
      opts.onRefused?.(detail);
    } catch {
      // reporting must not break serving
    }
  };
  async function serve(from: string, body: Uint8Array) {
    const req = JSON.parse(new TextDecoder().decode(body)) as Record<string, unknown>;
    const { session, id, reply, offsets } = req;
    if (typeof session !== "string" || !SESSION.test(session)) throw new Error("bad session");
    if (typeof reply !== "string" || !NODE.test(reply)) throw new Error("bad reply node");
    const out = nodeTopic(opts.fleet, opts.node, "xfer-data", reply);
    const fail = (message: string) =>
      opts.transport.publish(out, opts.seal(ERROR_TYPE, te.encode(JSON.stringify({ session, message }))), {
        qos: 1,
      });
    const file = typeof id === "string" ? opts.catalog.get(id) : undefined;
    if (!file || (file.allow && !file.allow.has(from)))
      return fail(`no shared file ${String(id)} for this peer`);
    if (!Array.isArray(offsets) || offsets.length > MAX_OFFSETS)
      return fail(`offsets must be a list of ≤ ${MAX_OFFSETS}`);
    const { size, chunkSize } = file.offer;
    for (const offset of offsets) {
      if (!Number.isSafeInteger(offset) || offset < 0 || offset >= size)
        return fail(`offset ${offset} out of range`);
      const end = Math.min(size, (Math.floor(offset / chunkSize) + 1) * chunkSize);
      const bytes = await Bun.file(file.path).slice(offset, end).bytes();
      // Awaiting each QoS 1 publish is the back-pressure: the client's queue never runs ahead.
      await opts.transport.publish(out, opts.seal(CHUNK_TYPE, encodeChunk({ session, offset }, bytes)), {
        qos: 1,
      });
    }
  }
  const unsubscribe = await opts.transport.subscribe(
    fleetPattern(opts.fleet, "+", "xfer", opts.node),
    (_t, payload) => {
      const opened = opts.open(payload);
      if (!opened.ok) return refuse(`transfer request refused: ${opened.detail}`);
      if (opened.type !== REQUEST_TYPE) return refuse(`message of type ${opened.type} ignored`);
      const key = `${opened.from}`;
      const prev = queues.get(key) ?? Promise.resolve();
      const next = prev
        .then(() => serve(opened.from, opened.body))
        .catch((err) => refuse(`transfer request from ${opened.from} failed: ${describeError(err)}`))
        .finally(() => {
          if (queues.get(key) === next) queues.delete(key);
        });
      queues.set(key, next);
    },
  );
  return {
    async close() {
      await unsubscribe();
      await Promise.allSettled([...queues.values()]);
    },
  };
}

export interface MqttPathOptions {
  transport: MessageTransport;
  fleet: string;
  /** This node: chunks come back on `kiana/v1/<fleet>/<source>/xfer-data/<node>`. */
  node: string;
  seal: Seal;
  open: Open;
  clock?: Clock;
  /** Chunks per request; the next request goes out when these are written. */
  window?: number;
  /** No chunk for this long: ask again for what is missing. */
  retryMs?: number;
  /** Requests in a row without a chunk before the path gives up with TRANSFER_STALLED. */
  maxRetries?: number;
}

export function createMqttPath(opts: MqttPathOptions): TransferPath {
  const clock = opts.clock ?? systemClock;
  const window = Math.min(opts.window ?? 16, MAX_OFFSETS);
  const te = new TextEncoder();
  return {
    name: "mqtt",
    async fetch({ offer, peer, sink, signal }: FetchRequest) {
      signal.throwIfAborted();
      if (sink.offset === offer.size) return;
      const session = randomBytes(16).toString("hex");
      const ledger = createChunkLedger(offer, sink.offset, (window + 1) * offer.chunkSize);
      const outcome = createAttemptOutcome("mqtt", peer.node, () => cancelRetry());
      const finish = outcome.finish;
      let asked = new Set<number>();
      let retries = 0;
      let cancelRetry = () => {};
      const request = () => {
        asked = new Set(ledger.missing(window));
        cancelRetry();
        cancelRetry = clock.setTimeout(() => {
          if (++retries > (opts.maxRetries ?? 3))
            return finish(
              kianaError(
                "TRANSFER_STALLED",
                `no chunks from ${peer.node} over MQTT at ${sink.offset}/${offer.size}`,
                {
                  path: "mqtt",
                  offset: sink.offset,
                },
              ),
            );
          request();
        }, opts.retryMs ?? 2000);
        const body = te.encode(
          JSON.stringify({ session, id: offer.id, reply: opts.node, offsets: [...asked] }),
        );
        opts.transport
          .publish(nodeTopic(opts.fleet, opts.node, "xfer", peer.node), opts.seal(REQUEST_TYPE, body), {
            qos: 1,
          })
          .catch((err) =>
            finish(kianaError("TRANSFER_FAILED", `cannot ask ${peer.node}: ${describeError(err)}`)),
          );
      };
      // Appends run one after another, in ledger order.
      let writing = Promise.resolve();
      const onChunk = (offset: number, bytes: Uint8Array) => {
        if (!asked.has(offset) || !ledger.accept(offset, bytes)) return; // duplicate or stray
        asked.delete(offset);
        retries = 0;
        const ready = ledger.takeReady();
        const windowDone = asked.size === 0;
        writing = writing.then(async () => {
          for (const b of ready) await sink.append(b);
          if (outcome.finished) return;
          if (sink.offset === offer.size) finish();
          else if (windowDone && sink.offset === ledger.resumeOffset) request();
        });
        writing.catch(finish);
      };
      const unsubscribe = await opts.transport.subscribe(
        nodeTopic(opts.fleet, peer.node, "xfer-data", opts.node),
        (_t, payload) => {
          const opened = opts.open(payload);
          if (!opened.ok || opened.from !== peer.fingerprint) return;
          if (opened.type === ERROR_TYPE) {
            let e: { session?: unknown; message?: unknown } = {};
            try {
              e = JSON.parse(new TextDecoder().decode(opened.body)) as typeof e;
            } catch {
              return; // a malformed error from the peer is not worth failing over
            }
            if (e.session === session)
              finish(
                kianaError("TRANSFER_FAILED", `${peer.node}: ${String(e.message).slice(0, 300)}`, {
                  path: "mqtt",
                }),
              );
            return;
          }
          const chunk = opened.type === CHUNK_TYPE ? decodeChunk(opened.body) : undefined;
          if (chunk?.header.session === session) onChunk(chunk.header.offset, chunk.bytes);
        },
      );
      const onAbort = () => finish(signal.reason ?? kianaError("TRANSFER_FAILED", "aborted"));
      signal.addEventListener("abort", onAbort, { once: true });
      try {
        request();
        await outcome.promise;
        await writing;
      } finally {
        signal.removeEventListener("abort", onAbort);
        await unsubscribe().catch(() => {});
      }
    },
  };
}
