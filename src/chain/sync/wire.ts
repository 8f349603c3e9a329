// The sync frames and their binary encoding. A batch carries contiguous blocks of one author with
// author, seq and prev left implied (the receiver recomputes them), so a block costs a few bytes
// beyond its body; decoders are strict and return a reason instead of throwing on hostile bytes.
import { HASH_BYTES, MAX_BODY_BYTES } from "../block.ts";
import { ByteReader, ByteWriter } from "./bytes.ts";

export const FRAME = {
  hello: 1,
  inSync: 2,
  heads: 3,
  fetch: 4,
  author: 5,
  batch: 6,
  more: 7,
  done: 8,
  error: 9,
} as const;

export const LIMITS = {
  /** Logs one peer may describe: far above any household fleet, small enough to hold. */
  heads: 4096,
  ranges: 4096,
  blocksPerBatch: 4096,
  batchBytes: 1024 * 1024,
  proofHashes: 128,
  typesPerBatch: 16,
  certificateBytes: 8192,
  errorBytes: 1024,
  window: 64,
} as const;

export const SIGNATURE_BYTES = 64;

export interface Head {
  author: string;
  length: number;
  root: Uint8Array;
  ts: number;
  signature: Uint8Array;
}

export interface FetchRange {
  author: string;
  from: number;
  to: number;
  /** Ask for the author's enrolment certificate first: the receiver does not know its key. */
  needCertificate: boolean;
}

export interface BatchEntry {
  ts: number;
  type: string;
  body: Uint8Array;
}

export interface Batch {
  author: string;
  from: number;
  /** The length of the signed root this batch is proven against (the head from HEADS). */
  target: number;
  /** Consistency-proof nodes from from+entries.length to target; empty when they are equal. */
  proof: Uint8Array[];
  entries: BatchEntry[];
}

export type Frame =
  | { kind: "hello"; digest: Uint8Array; authors: number }
  | { kind: "inSync" }
  | { kind: "heads"; heads: Head[] }
  | { kind: "fetch"; window: number; ranges: FetchRange[] }
  | { kind: "author"; author: string; certificate: string }
  | { kind: "batch"; batch: Batch }
  | { kind: "more"; credits: number }
  | { kind: "done" }
  | { kind: "error"; reason: string };

export type FrameResult = { ok: true; frame: Frame } | { ok: false; reason: string };

const AUTHOR_BYTES = 16;
const TYPE_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;
const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

export function encodeFrame(f: Frame): Uint8Array {
  const w = new ByteWriter(f.kind === "batch" ? 64 * 1024 : 128).u8(FRAME[f.kind]);
  switch (f.kind) {
    case "hello":
      return w.bytes(f.digest).varint(f.authors).finish();
    case "heads":
      w.varint(f.heads.length);
      for (const h of f.heads) w.hex(h.author).varint(h.length).bytes(h.root).varint(h.ts).bytes(h.signature);
      return w.finish();
    case "fetch":
      w.varint(f.window).varint(f.ranges.length);
      for (const r of f.ranges)
        w.hex(r.author)
          .varint(r.from)
          .varint(r.to)
          .u8(r.needCertificate ? 1 : 0);
      return w.finish();
    case "author":
      return w.hex(f.author).blob(utf8.encode(f.certificate)).finish();
    case "batch":
      return encodeBatch(w, f.batch);
    case "more":
      return w.varint(f.credits).finish();
    case "error":
      return w.blob(utf8.encode(f.reason.slice(0, LIMITS.errorBytes / 4))).finish();
    default:
      return w.finish();
  }
}

function encodeBatch(w: ByteWriter, b: Batch): Uint8Array {
  w.hex(b.author).varint(b.from).varint(b.target).varint(b.proof.length);
  for (const h of b.proof) w.bytes(h);
  const types = [...new Set(b.entries.map((e) => e.type))];
  w.u8(types.length);
  for (const t of types) w.blob(utf8.encode(t));
  w.varint(b.entries.length);
  // Timestamps as zigzag deltas: a batch appended at once costs one byte per block for its ts.
  let lastTs = 0;
  for (const e of b.entries) {
    const delta = e.ts - lastTs;
    lastTs = e.ts;
    w.u8(types.indexOf(e.type))
      .varint(delta >= 0 ? delta * 2 : -delta * 2 - 1)
      .blob(e.body);
  }
  return w.finish();
}

/** Decodes one frame; any problem (length, range, encoding, limits) yields a reason, never a throw. */
export function decodeFrame(bytes: Uint8Array): FrameResult {
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) return { ok: false, reason: "empty frame" };
  if (bytes.length > LIMITS.batchBytes + 64 * 1024) return { ok: false, reason: "frame over the size cap" };
  const r = new ByteReader(bytes);
  const frame = readFrame(r, r.u8());
  if (!frame || !r.ok) return { ok: false, reason: r.problem ?? "unknown frame kind" };
  if (!r.done) return { ok: false, reason: `${frame.kind} frame has trailing bytes` };
  return { ok: true, frame };
}

function readFrame(r: ByteReader, kind: number): Frame | undefined {
  switch (kind) {
    case FRAME.hello:
      return { kind: "hello", digest: r.bytes(HASH_BYTES, "digest"), authors: r.varint("author count") };
    case FRAME.inSync:
      return { kind: "inSync" };
    case FRAME.heads: {
      const n = r.varint("head count", LIMITS.heads);
      const heads: Head[] = [];
      for (let i = 0; i < n && r.ok; i++) {
        heads.push({
          author: r.hex(AUTHOR_BYTES, "author"),
          length: r.varint("length"),
          root: r.bytes(HASH_BYTES, "root"),
          ts: r.varint("ts"),
          signature: r.bytes(SIGNATURE_BYTES, "signature"),
        });
        if (i > 0 && (heads[i - 1] as Head).author >= (heads[i] as Head).author)
          r.fail("heads are not sorted by author");
      }
      return { kind: "heads", heads };
    }
    case FRAME.fetch: {
      const window = r.varint("window", LIMITS.window);
      if (r.ok && window === 0) r.fail("window is zero");
      const n = r.varint("range count", LIMITS.ranges);
      const ranges: FetchRange[] = [];
      for (let i = 0; i < n && r.ok; i++) {
        const author = r.hex(AUTHOR_BYTES, "author");
        const from = r.varint("from");
        const to = r.varint("to");
        const flags = r.u8();
        if (to <= from) r.fail(`range ${from}..${to} is empty`);
        if (flags > 1) r.fail("unknown range flags");
        ranges.push({ author, from, to, needCertificate: flags === 1 });
      }
      return { kind: "fetch", window, ranges };
    }
    case FRAME.author: {
      const author = r.hex(AUTHOR_BYTES, "author");
      const certificate = text(r, "certificate", LIMITS.certificateBytes);
      return { kind: "author", author, certificate };
    }
    case FRAME.batch:
      return readBatch(r);
    case FRAME.more: {
      const credits = r.varint("credits", LIMITS.window);
      if (r.ok && credits === 0) r.fail("zero credits");
      return { kind: "more", credits };
    }
    case FRAME.done:
      return { kind: "done" };
    case FRAME.error:
      return { kind: "error", reason: text(r, "reason", LIMITS.errorBytes) };
    default:
      return undefined;
  }
}

function text(r: ByteReader, what: string, max: number): string {
  const b = r.blob(what, max);
  if (!r.ok) return "";
  try {
    return strictUtf8.decode(b);
  } catch {
    r.fail(`${what} is not UTF-8`);
    return "";
  }
}

function readBatch(r: ByteReader): Frame {
  const author = r.hex(AUTHOR_BYTES, "author");
  const from = r.varint("from");
  const target = r.varint("target");
  const proof: Uint8Array[] = [];
  const proofCount = r.varint("proof length", LIMITS.proofHashes);
  for (let i = 0; i < proofCount && r.ok; i++) proof.push(r.bytes(HASH_BYTES, "proof node"));
  const typeCount = r.u8();
  if (typeCount > LIMITS.typesPerBatch) r.fail(`${typeCount} types in one batch`);
  const types: string[] = [];
  for (let i = 0; i < typeCount && r.ok; i++) {
    const t = text(r, "type", 32);
    if (!TYPE_PATTERN.test(t) || types.includes(t)) r.fail(`type ${JSON.stringify(t)} is not allowed here`);
    types.push(t);
  }
  const n = r.varint("block count", LIMITS.blocksPerBatch);
  if (r.ok && n === 0) r.fail("batch has no blocks");
  const entries: BatchEntry[] = [];
  let ts = 0;
  for (let i = 0; i < n && r.ok; i++) {
    const type = types[r.u8()];
    const zigzag = r.varint("ts delta");
    ts += zigzag % 2 === 0 ? zigzag / 2 : -(zigzag + 1) / 2;
    const body = r.blob("body", MAX_BODY_BYTES);
    if (type === undefined) r.fail(`block ${i} names no listed type`);
    if (!Number.isSafeInteger(ts) || ts < 0) r.fail(`block ${i} has a negative timestamp`);
    entries.push({ ts, type: type ?? "", body });
  }
  if (r.ok && from + n > target) r.fail(`batch ${from}..${from + n} runs past its target ${target}`);
  return { kind: "batch", batch: { author, from, target, proof, entries } };
}
