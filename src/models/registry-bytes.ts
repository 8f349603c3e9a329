// The byte-level half of a model import: what kind of file it is, one pass that hashes and writes it,
// and the header summary that becomes a registry row. The registry decides what to do with the result.
import { createHash } from "node:crypto";
import type { FileHandle } from "node:fs/promises";
import { basename } from "node:path";
import { describeError, type ErrorCode, isKianaError, type KianaError, kianaError } from "../errors.ts";
import { readGgufInfo } from "./gguf.ts";
import { readOnnxInfo } from "./onnx-meta.ts";

export type ModelKind = "gguf" | "onnx";

/** Why an import was refused (the error's details.reason, so the HTTP API can pick a status) and its code. */
const REFUSALS = {
  "not-a-model": "MODEL_FILE_INVALID",
  invalid: "MODEL_FILE_INVALID",
  "name-taken": "MODEL_FILE_INVALID",
  "name-invalid": "MODEL_FILE_INVALID",
  "too-large": "MODEL_FILE_INVALID",
  "ended-early": "MODEL_FILE_INVALID",
  "hash-mismatch": "MODEL_HASH_MISMATCH",
  "sha256-invalid": "MODEL_HASH_MISMATCH",
} as const satisfies Record<string, ErrorCode>;
export type ImportRefusal = keyof typeof REFUSALS;

export const CHUNK_BYTES = 4 << 20;
const UNKNOWN_TOTAL_STEP = 64 << 20;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._:+-]{0,99}$/;
export const MODEL_ID = /^[0-9a-f]{16}$/;
const SHA256 = /^[0-9a-f]{64}$/;
// Header keys worth keeping are short; a chat template or a hostile file's megabytes are not.
const MAX_META_VALUE_CHARS = 16 << 10;
const MAX_META_CHARS = 256 << 10;

export function refuse(reason: ImportRefusal, message: string, details: object = {}, cause?: unknown) {
  return kianaError(REFUSALS[reason], message, { reason, ...details }, cause);
}

/** The refusal reason of an import error, or null for anything else (an I/O failure, say). */
export function importRefusal(err: unknown): ImportRefusal | null {
  const reason = isKianaError(err) ? err.details.reason : undefined;
  return typeof reason === "string" && Object.hasOwn(REFUSALS, reason) ? (reason as ImportRefusal) : null;
}

/** GGUF by its magic; ONNX has none, but protobuf writers emit fields in number order, so a
 * ModelProto opens with ir_version (field 1, a varint) and a small version number. */
export function sniffKind(head: Uint8Array): ModelKind | null {
  if (head.length >= 4 && String.fromCharCode(...head.subarray(0, 4)) === "GGUF") return "gguf";
  if (head.length >= 2 && head[0] === 0x08 && (head[1] ?? 0) >= 1 && (head[1] ?? 0) <= 100) return "onnx";
  return null;
}

export const notAModel = (label: string) =>
  refuse("not-a-model", `${label} is neither a GGUF nor an ONNX model (its first bytes say neither)`);

export function checkName(name: string): string {
  if (!NAME.test(name) || MODEL_ID.test(name)) {
    throw refuse(
      "name-invalid",
      `model name ${JSON.stringify(name)} must be 1-100 letters, digits and . _ : + -, start with a letter or digit, and not look like a model id`,
    );
  }
  return name;
}

/** A name from the file's base name, for when none is given; only the name, never the metadata. */
export function defaultName(path: string): string {
  const base = basename(path)
    .replace(/\.(gguf|onnx)$/i, "")
    .replace(/[^A-Za-z0-9._:+-]+/g, "-")
    .replace(/^[^A-Za-z0-9]+/, "")
    .slice(0, 100);
  return MODEL_ID.test(base) ? `model-${base}` : base || "model";
}

export function checkSha256(hex: string | undefined): string | undefined {
  if (hex === undefined) return undefined;
  const h = hex.trim().toLowerCase();
  if (!SHA256.test(h)) throw refuse("sha256-invalid", `the expected sha256 ${hex} is not 64 hex digits`);
  return h;
}

export interface Described {
  architecture: string | null;
  parameters: number | null;
  quantization: string | null;
  contextLength: number | null;
  meta: Record<string, unknown>;
}

/** Reads the header at `path`, naming the file `label` in a refusal (a part file means nothing to users). */
export async function describeModel(kind: ModelKind, path: string, label: string): Promise<Described> {
  try {
    if (kind === "gguf") {
      const {
        format,
        path: _p,
        fileBytes,
        architecture,
        parameterCount,
        quantization,
        contextLength,
        ...rest
      } = await readGgufInfo(path);
      const meta = plain({ ...rest, metadata: compact(rest.metadata) });
      return { architecture, parameters: parameterCount, quantization, contextLength, meta };
    }
    const { format, path: _p, fileBytes, parameterCount, ...rest } = await readOnnxInfo(path);
    const meta = plain({ ...rest, metadata: compact(rest.metadata) });
    return { architecture: null, parameters: parameterCount, quantization: null, contextLength: null, meta };
  } catch (err) {
    if (!isKianaError(err)) throw err;
    throw refuse("invalid", err.message.replaceAll(path, label), { field: err.details.field }, err);
  }
}

/** JSON for the meta column: 64-bit values as strings, and no unbounded header values. */
export const metaJson = (meta: Record<string, unknown>) =>
  JSON.stringify(meta, (_k, v) => (typeof v === "bigint" ? v.toString() : v));

/** The same values as JSON would give them back, so an entry serializes before and after a database trip. */
const plain = (meta: Record<string, unknown>): Record<string, unknown> => JSON.parse(metaJson(meta));

function compact(metadata: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let total = 0;
  for (const [key, value] of Object.entries(metadata)) {
    const chars = metaJson({ v: value }).length;
    const kept = chars <= MAX_META_VALUE_CHARS && total + chars <= MAX_META_CHARS;
    out[key] = kept ? value : { omitted: true, jsonChars: chars };
    total += kept ? chars : 40;
  }
  return out;
}

export interface Received {
  sha256: string;
  bytes: number;
}

export interface ReceiveOptions {
  total: number | null;
  maxBytes?: number;
  label: string;
  onProgress?(done: number, total: number | null): void;
}

/** One pass over the bytes: hashed, and written through `sink` when there is one, then fsynced.
 * Small chunks (HTTP) are gathered into one buffer so that the disk sees few large writes. */
export async function receive(
  chunks: AsyncIterable<Uint8Array>,
  sink: FileHandle | null,
  o: ReceiveOptions,
): Promise<Received> {
  const hash = createHash("sha256");
  const stage = new Uint8Array(sink ? CHUNK_BYTES : 0);
  const zeros = Buffer.alloc(stage.length);
  let staged = 0;
  let written = 0;
  let done = 0;
  let reported = 0;
  const step = o.total ? Math.max(o.total / 100, 1) : UNKNOWN_TOTAL_STEP;
  const write = async (b: Uint8Array) => {
    // All zeros becomes a hole (the final truncate gives the length): sparse files stay sparse.
    if (zeros.subarray(0, b.length).equals(b)) {
      written += b.length;
      return;
    }
    for (let off = 0; off < b.length; ) {
      const { bytesWritten } = await (sink as FileHandle).write(b, off, b.length - off, written);
      off += bytesWritten;
      written += bytesWritten;
    }
  };
  for await (const chunk of chunks) {
    done += chunk.length;
    if (o.maxBytes !== undefined && done > o.maxBytes) {
      throw refuse("too-large", `${o.label} is over the limit of ${o.maxBytes} bytes`, {
        maxBytes: o.maxBytes,
      });
    }
    hash.update(chunk);
    if (sink && staged === 0 && chunk.length >= CHUNK_BYTES) await write(chunk);
    else if (sink) {
      for (let off = 0; off < chunk.length; ) {
        const n = Math.min(CHUNK_BYTES - staged, chunk.length - off);
        stage.set(chunk.subarray(off, off + n), staged);
        staged += n;
        off += n;
        if (staged === CHUNK_BYTES) {
          await write(stage);
          staged = 0;
        }
      }
    }
    if (o.onProgress && done - reported >= step) {
      reported = done;
      o.onProgress(done, o.total);
    }
  }
  if (sink) {
    await write(stage.subarray(0, staged));
    await sink.truncate(done);
    await sink.sync();
  }
  if (o.onProgress && reported !== done) o.onProgress(done, o.total);
  return { sha256: hash.digest("hex"), bytes: done };
}

/** The file in large chunks, reading the next while the caller hashes and writes this one. */
export async function* fileChunks(fh: FileHandle): AsyncGenerator<Uint8Array> {
  let [ahead, current] = [new Uint8Array(CHUNK_BYTES), new Uint8Array(CHUNK_BYTES)];
  let pos = 0;
  let pending = fh.read(ahead, 0, CHUNK_BYTES, 0);
  try {
    for (;;) {
      const { bytesRead } = await pending;
      if (bytesRead === 0) return;
      [ahead, current] = [current, ahead];
      pos += bytesRead;
      pending = fh.read(ahead, 0, CHUNK_BYTES, pos);
      yield current.subarray(0, bytesRead);
    }
  } finally {
    // A caller that stops early must not leave a read running into a buffer or a closed handle.
    await pending.catch(() => undefined);
  }
}

/** A web stream's chunks; a stream that fails becomes "ended early", and one left early is cancelled. */
export async function* streamChunks(readable: ReadableStream<Uint8Array>, label: string) {
  const reader = readable.getReader();
  let finished = false;
  let done = 0;
  try {
    for (;;) {
      let next: Awaited<ReturnType<typeof reader.read>>;
      try {
        next = await reader.read();
      } catch (err) {
        finished = true;
        throw refuse("ended-early", `${label} failed after ${done} bytes: ${describeError(err)}`, {}, err);
      }
      if (next.done) {
        finished = true;
        return;
      }
      done += next.value.length;
      if (next.value.length > 0) yield next.value;
    }
  } finally {
    if (!finished) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

/** Refuses a stream whose first bytes are not a model, before the rest of it is written anywhere. */
export async function* sniffed(
  chunks: AsyncIterable<Uint8Array>,
  label: string,
  onKind: (k: ModelKind) => void,
) {
  let head = new Uint8Array(0);
  for await (const chunk of chunks) {
    if (head.length < 4) {
      const grown = new Uint8Array(Math.min(4, head.length + chunk.length));
      grown.set(head);
      grown.set(chunk.subarray(0, grown.length - head.length), head.length);
      head = grown;
      if (head.length === 4) onKind(sniffKind(head) ?? throwError(notAModel(label)));
    }
    yield chunk;
  }
  if (head.length < 4) onKind(sniffKind(head) ?? throwError(notAModel(label)));
}

function throwError(err: KianaError): never {
  throw err;
}
