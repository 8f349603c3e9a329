// What a file transfer is (the offer) and which of its chunks have arrived: pure values, no I/O,
// so resume points and window bookkeeping are tested without files or sockets.
import { kianaError } from "../../errors.ts";

/** Announced by the sender; everything the receiver needs to fetch and verify the file. */
export interface TransferOffer {
  /** 32 hex characters, random per share. */
  id: string;
  /** A file name only, never a path: the receiver chooses where it goes. */
  name: string;
  size: number;
  /** Lower-case hex sha256 of the whole file. */
  sha256: string;
  /** Bytes per chunk on chunked paths (MQTT, data channel); HTTP ignores it. */
  chunkSize: number;
}

export const DEFAULT_CHUNK_SIZE = 64 * 1024;
/** An MQTT message and a data-channel message both stay well under 256 KiB with this. */
export const MAX_CHUNK_SIZE = 192 * 1024;
const ID = /^[0-9a-f]{32}$/;
const SHA256 = /^[0-9a-f]{64}$/;
const NAME = /^[^/\\\0]{1,255}$/;

/** Checks an offer that came off the wire; throws TRANSFER_OFFER_INVALID naming the bad field. */
export function parseOffer(value: unknown): TransferOffer {
  const bad = (field: string, why: string) =>
    kianaError("TRANSFER_OFFER_INVALID", `transfer offer: ${field} ${why}`, { field });
  if (typeof value !== "object" || value === null) throw bad("offer", "is not an object");
  const o = value as Record<string, unknown>;
  if (typeof o.id !== "string" || !ID.test(o.id)) throw bad("id", "must be 32 hex characters");
  if (typeof o.name !== "string" || !NAME.test(o.name) || o.name === "." || o.name === "..")
    throw bad("name", "must be a plain file name of 1-255 characters");
  if (!Number.isSafeInteger(o.size) || (o.size as number) < 0) throw bad("size", "must be a byte count");
  if (typeof o.sha256 !== "string" || !SHA256.test(o.sha256))
    throw bad("sha256", "must be 64 hex characters");
  const chunk = o.chunkSize;
  if (!Number.isSafeInteger(chunk) || (chunk as number) < 1024 || (chunk as number) > MAX_CHUNK_SIZE)
    throw bad("chunkSize", `must be an integer from 1024 to ${MAX_CHUNK_SIZE}`);
  return { id: o.id, name: o.name, size: o.size as number, sha256: o.sha256, chunkSize: chunk as number };
}

export function chunkCount(offer: Pick<TransferOffer, "size" | "chunkSize">): number {
  return Math.ceil(offer.size / offer.chunkSize);
}

/** The byte range [start, end) of chunk `index`. */
export function chunkRange(offer: Pick<TransferOffer, "size" | "chunkSize">, index: number) {
  const start = index * offer.chunkSize;
  return { start, end: Math.min(offer.size, start + offer.chunkSize) };
}

/**
 * Chunks received but not yet written, for paths that may deliver out of order (MQTT). Bytes are
 * written strictly in order, so the durable resume point is always one number: the contiguous prefix.
 */
export interface ChunkLedger {
  /** Bytes written in order so far: where a resumed transfer starts. */
  readonly resumeOffset: number;
  readonly complete: boolean;
  /**
   * Records a chunk that starts at `offset`. Returns false (and keeps nothing) for a duplicate, one
   * already written, one outside `limit` bytes past the resume point, or one of the wrong length.
   */
  accept(offset: number, bytes: Uint8Array): boolean;
  /** Removes and returns the chunks that now extend the prefix, in order; advances resumeOffset. */
  takeReady(): Uint8Array[];
  /** Chunk start offsets from the resume point up to `count` chunks ahead that have not arrived. */
  missing(count: number): number[];
  /** Bytes held out of order. */
  readonly pendingBytes: number;
}

export function createChunkLedger(
  offer: TransferOffer,
  resumeOffset = 0,
  limit = 4 * 1024 * 1024,
): ChunkLedger {
  if (!Number.isSafeInteger(resumeOffset) || resumeOffset < 0 || resumeOffset > offer.size)
    throw kianaError("TRANSFER_OFFER_INVALID", `resume offset ${resumeOffset} is outside 0..${offer.size}`);
  let done = resumeOffset;
  let pendingBytes = 0;
  const pending = new Map<number, Uint8Array>();
  // A resume point inside a chunk (an HTTP path stopped mid-chunk) is fine: expected lengths are
  // measured from it, so chunked paths re-align on the next boundary.
  const expectedLength = (offset: number) => {
    const boundary = (Math.floor(offset / offer.chunkSize) + 1) * offer.chunkSize;
    return Math.min(boundary, offer.size) - offset;
  };
  return {
    get resumeOffset() {
      return done;
    },
    get complete() {
      return done === offer.size;
    },
    get pendingBytes() {
      return pendingBytes;
    },
    accept(offset, bytes) {
      if (!Number.isSafeInteger(offset) || offset < done || offset >= offer.size) return false;
      if (offset - done >= limit || pending.has(offset)) return false;
      if (bytes.length !== expectedLength(offset)) return false;
      pending.set(offset, bytes);
      pendingBytes += bytes.length;
      return true;
    },
    takeReady() {
      const out: Uint8Array[] = [];
      for (let next = pending.get(done); next; next = pending.get(done)) {
        pending.delete(done);
        pendingBytes -= next.length;
        done += next.length;
        out.push(next);
      }
      return out;
    },
    missing(count) {
      const out: number[] = [];
      let at = done;
      for (let i = 0; i < count && at < offer.size; i++) {
        if (!pending.has(at)) out.push(at);
        at += expectedLength(at);
      }
      return out;
    },
  };
}
