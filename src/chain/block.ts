// Chain blocks: the canonical wire/storage encoding, a strict decoder that refuses (never throws on)
// hostile bytes, and the domain-tagged leaf hash every Merkle tree and `prev` link is built from.
import { createHash } from "node:crypto";
import { type ChainBlockFields, chainBlockBytes } from "../identity/signed-bytes.ts";

export type Block = ChainBlockFields;

/** Block types the fleet uses today; the format accepts any name matching TYPE_PATTERN. */
export const KNOWN_BLOCK_TYPES = [
  "knowledge",
  "vote",
  "checkpoint",
  "config",
  "model-release",
  "audit-anchor",
] as const;

/** Bodies stay small enough for a 1 GB board to hold a batch; large artefacts travel by transfer. */
export const MAX_BODY_BYTES = 64 * 1024;
export const HASH_BYTES = 32;
export const ZERO_HASH: Uint8Array = new Uint8Array(HASH_BYTES);

const FORMAT_VERSION = 1;
const AUTHOR_PATTERN = /^[0-9a-f]{32}$/;
const TYPE_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;
// version, author (16), seq (8), prev (32), ts (8), type length (1), body length (4)
const FIXED_BYTES = 1 + 16 + 8 + HASH_BYTES + 8 + 1 + 4;

export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Why a block is malformed, or undefined when it is well formed. */
export function blockProblem(b: Block): string | undefined {
  if (typeof b.author !== "string" || !AUTHOR_PATTERN.test(b.author))
    return "author is not a 32-hex-digit fingerprint";
  if (!Number.isSafeInteger(b.seq) || b.seq < 0) return "seq is not an unsigned integer";
  if (!(b.prev instanceof Uint8Array) || b.prev.length !== HASH_BYTES) return "prev is not a 32-byte hash";
  if (b.seq === 0 && !equalBytes(b.prev, ZERO_HASH)) return "the first block must have a zero prev";
  if (!Number.isSafeInteger(b.ts) || b.ts < 0) return "ts is not an unsigned integer";
  if (typeof b.type !== "string" || !TYPE_PATTERN.test(b.type)) return "type is not a short lowercase name";
  if (!(b.body instanceof Uint8Array)) return "body is not bytes";
  if (b.body.length > MAX_BODY_BYTES) return `body is ${b.body.length} bytes, over ${MAX_BODY_BYTES}`;
  return undefined;
}

/** sha256 over the tagged block fields: the block's identity in the tree and in the next `prev`. */
export function leafHash(b: Block): Uint8Array {
  return new Uint8Array(createHash("sha256").update(chainBlockBytes(b)).digest());
}

/** Canonical bytes; callers only encode blocks that passed `blockProblem`. */
export function encodeBlock(b: Block): Uint8Array {
  const type = new TextEncoder().encode(b.type);
  const out = new Uint8Array(FIXED_BYTES + type.length + b.body.length);
  const view = new DataView(out.buffer);
  let at = 0;
  out[at++] = FORMAT_VERSION;
  out.set(Buffer.from(b.author, "hex"), at);
  at += 16;
  view.setBigUint64(at, BigInt(b.seq));
  at += 8;
  out.set(b.prev, at);
  at += HASH_BYTES;
  view.setBigUint64(at, BigInt(b.ts));
  at += 8;
  out[at++] = type.length;
  out.set(type, at);
  at += type.length;
  view.setUint32(at, b.body.length);
  out.set(b.body, at + 4);
  return out;
}

/** Strict decode: exact length, known version, every field re-checked; hostile input gets a reason. */
export function decodeBlock(bytes: Uint8Array): Decoded<Block> {
  if (!(bytes instanceof Uint8Array)) return { ok: false, reason: "not bytes" };
  if (bytes.length < FIXED_BYTES) return { ok: false, reason: "too short" };
  if (bytes[0] !== FORMAT_VERSION) return { ok: false, reason: `unknown format version ${bytes[0]}` };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 1;
  const author = Buffer.from(bytes.subarray(at, at + 16)).toString("hex");
  at += 16;
  const seq = view.getBigUint64(at);
  at += 8;
  const prev = bytes.slice(at, at + HASH_BYTES);
  at += HASH_BYTES;
  const ts = view.getBigUint64(at);
  at += 8;
  const typeLength = bytes[at++] ?? 0;
  if (at + typeLength + 4 > bytes.length) return { ok: false, reason: "type runs past the end" };
  const typeBytes = bytes.subarray(at, at + typeLength);
  at += typeLength;
  const bodyLength = view.getUint32(at);
  at += 4;
  if (bodyLength > MAX_BODY_BYTES) return { ok: false, reason: "body over the size cap" };
  if (at + bodyLength !== bytes.length) return { ok: false, reason: "length does not match the body" };
  if (seq > BigInt(Number.MAX_SAFE_INTEGER) || ts > BigInt(Number.MAX_SAFE_INTEGER))
    return { ok: false, reason: "seq or ts out of range" };
  // ASCII-only types keep the decode canonical: no two byte strings map to one type.
  if (typeBytes.some((c) => c > 0x7f)) return { ok: false, reason: "type is not ASCII" };
  const block: Block = {
    author,
    seq: Number(seq),
    prev,
    ts: Number(ts),
    type: String.fromCharCode(...typeBytes),
    body: bytes.slice(at),
  };
  const problem = blockProblem(block);
  return problem === undefined ? { ok: true, value: block } : { ok: false, reason: problem };
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
