// Serves one peer's sync requests on a port: answers a hello with "in sync" or its heads, and a
// fetch with batches of the asked ranges, each with a consistency proof to the signed head, sent
// only while the receiver has granted credit so neither side buffers more than a window.
import { describeError } from "../../errors.ts";
import { consistencyProof } from "../consistency.ts";
import type { ChainStore } from "../ports.ts";
import { headsDigest, localHeads } from "./heads.ts";
import type { AuthorKeys, SyncPort } from "./ports.ts";
import { type BatchEntry, decodeFrame, encodeFrame, type FetchRange, type Frame, LIMITS } from "./wire.ts";

export interface ResponderOptions {
  store: ChainStore;
  authors: AuthorKeys;
  /** Bytes of block bodies per batch; smaller batches prove more often. */
  batchBytes?: number;
  /** How long to wait for the next request or for credit before giving up on the peer. */
  idleMs?: number;
  onEvent?: (event: "hello" | "in-sync" | "fetch" | "batch" | "bad-request") => void;
}

export const DEFAULT_BATCH_BYTES = 256 * 1024;

/** Runs until the peer closes the port, goes silent, or breaks the protocol. */
export async function serveSync(port: SyncPort, opts: ResponderOptions): Promise<void> {
  const { store } = opts;
  const idleMs = opts.idleMs ?? 60_000;
  const send = (f: Frame) => port.send(encodeFrame(f));
  try {
    for (;;) {
      const bytes = await port.receive(idleMs);
      if (!bytes) return;
      const decoded = decodeFrame(bytes);
      // Credit granted for batches of a finished fetch arrives after it; it carries nothing more.
      if (decoded.ok && decoded.frame.kind === "more") continue;
      if (!decoded.ok || !["hello", "fetch"].includes(decoded.frame.kind)) {
        opts.onEvent?.("bad-request");
        send({
          kind: "error",
          reason: decoded.ok ? `unexpected ${decoded.frame.kind} frame` : decoded.reason,
        });
        return;
      }
      const f = decoded.frame;
      if (f.kind === "hello") {
        const heads = localHeads(store);
        const same = Buffer.compare(headsDigest(heads), f.digest) === 0;
        opts.onEvent?.(same ? "in-sync" : "hello");
        send(same ? { kind: "inSync" } : { kind: "heads", heads });
      } else if (f.kind === "fetch") {
        opts.onEvent?.("fetch");
        if (!(await streamRanges(port, f.ranges, f.window, opts, idleMs))) return;
        send({ kind: "done" });
      }
    }
  } catch (err) {
    // A peer that vanished or went silent ends its session; nothing here is worth more than that.
    try {
      send({ kind: "error", reason: describeError(err) });
    } catch {}
  } finally {
    port.close();
  }
}

async function streamRanges(
  port: SyncPort,
  ranges: readonly FetchRange[],
  window: number,
  opts: ResponderOptions,
  idleMs: number,
): Promise<boolean> {
  const { store, authors } = opts;
  const maxBytes = Math.min(opts.batchBytes ?? DEFAULT_BATCH_BYTES, LIMITS.batchBytes);
  const getter = (author: string) => (index: number) => store.node(author, index);
  let credits = window;
  for (const range of ranges) {
    const held = store.length(range.author);
    if (range.to > held) {
      port.send(
        encodeFrame({ kind: "error", reason: `${range.author} has ${held} blocks here, not ${range.to}` }),
      );
      continue;
    }
    if (range.needCertificate) {
      const known = authors.get(range.author);
      if (!known?.certificate) continue;
      port.send(encodeFrame({ kind: "author", author: range.author, certificate: known.certificate }));
    }
    for (let from = range.from; from < range.to; ) {
      while (credits === 0) {
        const bytes = await port.receive(idleMs);
        if (!bytes) return false;
        const d = decodeFrame(bytes);
        if (!d.ok || d.frame.kind !== "more") return false;
        credits += d.frame.credits;
      }
      const entries: BatchEntry[] = [];
      let size = 0;
      const upTo = Math.min(range.to, from + LIMITS.blocksPerBatch);
      const types = new Set<string>();
      for (const { block } of store.blocks(range.author, from, upTo)) {
        // A batch lists its types once; a new type past the cap starts the next batch instead.
        if (!types.has(block.type) && types.size === LIMITS.typesPerBatch) break;
        types.add(block.type);
        entries.push({ ts: block.ts, type: block.type, body: block.body });
        size += block.body.length;
        if (size >= maxBytes) break;
      }
      if (entries.length === 0) return false;
      const end = from + entries.length;
      const proof = end < range.to ? consistencyProof(end, range.to, getter(range.author)).nodes : [];
      port.send(
        encodeFrame({
          kind: "batch",
          batch: { author: range.author, from, target: range.to, proof, entries },
        }),
      );
      opts.onEvent?.("batch");
      credits--;
      from = end;
    }
  }
  return true;
}
