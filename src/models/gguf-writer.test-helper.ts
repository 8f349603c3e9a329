// Writes GGUF files for tests: a tiny llama that llama.cpp really loads, and the raw encoder that
// the size-claiming and hostile variants are built from. Layout follows the GGUF spec (v2/v3, LE).
import { closeSync, ftruncateSync, openSync, writeSync } from "node:fs";
import { fileTypeId, ggmlType, ggmlTypeId } from "./ggml-types.ts";

// Value type ids as the GGUF spec numbers them.
const TYPE_IDS = {
  uint8: 0,
  int8: 1,
  uint16: 2,
  int16: 3,
  uint32: 4,
  int32: 5,
  float32: 6,
  bool: 7,
  string: 8,
  array: 9,
  uint64: 10,
  int64: 11,
  float64: 12,
} as const;
export type KvScalarType = Exclude<keyof typeof TYPE_IDS, "array">;
type Scalar = number | bigint | boolean | string;
export type Kv =
  | { type: KvScalarType; value: Scalar }
  | { type: "array"; of: KvScalarType; values: Scalar[] };

export const kv = {
  u32: (value: number): Kv => ({ type: "uint32", value }),
  i32: (value: number): Kv => ({ type: "int32", value }),
  f32: (value: number): Kv => ({ type: "float32", value }),
  bool: (value: boolean): Kv => ({ type: "bool", value }),
  str: (value: string): Kv => ({ type: "string", value }),
  arr: (of: KvScalarType, values: Scalar[]): Kv => ({ type: "array", of, values }),
};

export interface TensorSpec {
  name: string;
  /** ne0 first. */
  dims: number[];
  type: string;
  /** Absent: the bytes are left as a hole in a sparse file, so huge models cost no disk. */
  data?: Uint8Array;
  /** Overrides the packed layout, for overlapping and misaligned variants. */
  offset?: number;
}

export interface GgufSpec {
  version?: number;
  kvs: [string, Kv][];
  tensors: TensorSpec[];
  /** Layout alignment; write general.alignment into kvs too when it is not 32. */
  alignment?: number;
}

/** Little-endian byte builder. */
function createBytes() {
  const parts: Uint8Array[] = [];
  let length = 0;
  const push = (b: Uint8Array) => {
    parts.push(b);
    length += b.length;
  };
  const num = (size: number, set: (v: DataView) => void) => {
    const b = new Uint8Array(size);
    set(new DataView(b.buffer));
    push(b);
  };
  const out = {
    get length() {
      return length;
    },
    push,
    u32: (v: number) => num(4, (d) => d.setUint32(0, v, true)),
    u64: (v: number | bigint) => num(8, (d) => d.setBigUint64(0, BigInt(v), true)),
    str: (s: string) => {
      const b = new TextEncoder().encode(s);
      out.u64(b.length);
      push(b);
    },
    scalar(type: KvScalarType, v: Scalar) {
      if (type === "string") return out.str(String(v));
      const n = Number(v);
      const setters: Record<Exclude<KvScalarType, "string">, [number, (d: DataView) => void]> = {
        uint8: [1, (d) => d.setUint8(0, n)],
        int8: [1, (d) => d.setInt8(0, n)],
        uint16: [2, (d) => d.setUint16(0, n, true)],
        int16: [2, (d) => d.setInt16(0, n, true)],
        uint32: [4, (d) => d.setUint32(0, n, true)],
        int32: [4, (d) => d.setInt32(0, n, true)],
        float32: [4, (d) => d.setFloat32(0, n, true)],
        bool: [1, (d) => d.setUint8(0, v ? 1 : 0)],
        uint64: [8, (d) => d.setBigUint64(0, BigInt(v), true)],
        int64: [8, (d) => d.setBigInt64(0, BigInt(v), true)],
        float64: [8, (d) => d.setFloat64(0, n, true)],
      };
      const [size, set] = setters[type];
      num(size, set);
    },
    concat(): Uint8Array {
      const all = new Uint8Array(length);
      let at = 0;
      for (const p of parts) {
        all.set(p, at);
        at += p.length;
      }
      return all;
    },
  };
  return out;
}

export interface EncodedGguf {
  /** Magic through the padding before the tensor data. */
  header: Uint8Array;
  dataOffset: number;
  /** Per tensor, relative to dataOffset. */
  offsets: number[];
  tensorBytes: number[];
  totalBytes: number;
}

export function tensorByteSize(t: Pick<TensorSpec, "dims" | "type">): number {
  const type = ggmlType(ggmlTypeId(t.type));
  if (!type) throw new Error(`no size for ${t.type}`);
  const elements = t.dims.reduce((a, b) => a * b, 1);
  // Rounded up so that a deliberately invalid shape still gives a writable file.
  return Math.ceil(elements / type.blockSize) * type.typeSize;
}

export function encodeGguf(spec: GgufSpec): EncodedGguf {
  const align = spec.alignment ?? 32;
  const b = createBytes();
  b.push(new TextEncoder().encode("GGUF"));
  b.u32(spec.version ?? 3);
  b.u64(spec.tensors.length);
  b.u64(spec.kvs.length);
  for (const [key, value] of spec.kvs) {
    b.str(key);
    b.u32(TYPE_IDS[value.type]);
    if (value.type !== "array") b.scalar(value.type, value.value);
    else {
      b.u32(TYPE_IDS[value.of]);
      b.u64(value.values.length);
      for (const v of value.values) b.scalar(value.of, v);
    }
  }
  const offsets: number[] = [];
  const tensorBytes: number[] = [];
  let next = 0;
  for (const t of spec.tensors) {
    const size = tensorByteSize(t);
    b.str(t.name);
    b.u32(t.dims.length);
    for (const d of t.dims) b.u64(d);
    b.u32(ggmlTypeId(t.type));
    const offset = t.offset ?? next;
    b.u64(offset);
    offsets.push(offset);
    tensorBytes.push(size);
    next = Math.ceil((offset + size) / align) * align;
  }
  const dataOffset = Math.ceil(b.length / align) * align;
  b.push(new Uint8Array(dataOffset - b.length));
  const ends = offsets.map((o, i) => dataOffset + o + (tensorBytes[i] ?? 0));
  const totalBytes = Math.max(dataOffset, ...ends);
  return { header: b.concat(), dataOffset, offsets, tensorBytes, totalBytes };
}

/** Writes the file; tensors without data become holes, so the file has its full size on any disk. */
export function writeGguf(path: string, spec: GgufSpec): EncodedGguf {
  const enc = encodeGguf(spec);
  const fd = openSync(path, "w");
  try {
    writeSync(fd, enc.header, 0, enc.header.length, 0);
    spec.tensors.forEach((t, i) => {
      if (!t.data) return;
      if (t.data.length !== enc.tensorBytes[i])
        throw new Error(`${t.name}: data is not ${enc.tensorBytes[i]} bytes`);
      writeSync(fd, t.data, 0, t.data.length, enc.dataOffset + (enc.offsets[i] ?? 0));
    });
    ftruncateSync(fd, enc.totalBytes);
  } finally {
    closeSync(fd);
  }
  return enc;
}

/** Deterministic weights: mulberry32, uniform in [-scale, scale). */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const TINY_LLAMA = Object.freeze({
  layers: 2,
  embd: 64,
  heads: 4,
  kvHeads: 2,
  ff: 128,
  context: 256,
  words: ["▁hello", "▁world", "▁kiana", "▁the", "▁is", "▁a"],
});

/**
 * <unk> <s> </s>, the 256 byte tokens, then a few words with every prefix ("▁h", "▁he", ...): SPM
 * builds words by merging adjacent pieces, so a word is reachable only through pieces in the vocabulary.
 */
export function tinyVocab(): { tokens: string[]; scores: number[]; types: number[] } {
  const bytes = Array.from({ length: 256 }, (_, i) => `<0x${i.toString(16).toUpperCase().padStart(2, "0")}>`);
  const pieces = new Set(TINY_LLAMA.words.flatMap((w) => Array.from(w, (_, i) => w.slice(0, i + 1))));
  const tokens = ["<unk>", "<s>", "</s>", ...bytes, ...pieces];
  // Token types: 1 normal, 2 unknown, 3 control, 6 byte.
  const types = tokens.map((_, i) => (i === 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1));
  const scores = tokens.map((_, i) => (i < 259 ? 0 : -(i - 258)));
  return { tokens, scores, types };
}

export interface TinyLlamaOptions {
  seed?: number;
  /** Type of the attention and FFN matrices; norms and embeddings stay F32. */
  matrixType?: "F32" | "F16";
  version?: 2 | 3;
}

export function tinyLlamaSpec(opts: TinyLlamaOptions = {}): GgufSpec {
  const { layers, embd, heads, kvHeads, ff, context } = TINY_LLAMA;
  const matrixType = opts.matrixType ?? "F16";
  const rand = seededRandom(opts.seed ?? 1);
  const vocab = tinyVocab();
  const kvDim = (embd / heads) * kvHeads;
  const weights = (dims: number[], type: string, fill?: number): TensorSpec => {
    const n = dims.reduce((a, b) => a * b, 1);
    const values = Array.from({ length: n }, () => fill ?? (rand() * 2 - 1) * 0.08);
    const data = type === "F16" ? new Float16Array(values) : new Float32Array(values);
    return { name: "", dims, type, data: new Uint8Array(data.buffer) };
  };
  const t = (name: string, dims: number[], type = "F32", fill?: number) => ({
    ...weights(dims, type, fill),
    name,
  });
  const tensors: TensorSpec[] = [t("token_embd.weight", [embd, vocab.tokens.length])];
  for (let i = 0; i < layers; i++) {
    tensors.push(
      t(`blk.${i}.attn_norm.weight`, [embd], "F32", 1),
      t(`blk.${i}.attn_q.weight`, [embd, embd], matrixType),
      t(`blk.${i}.attn_k.weight`, [embd, kvDim], matrixType),
      t(`blk.${i}.attn_v.weight`, [embd, kvDim], matrixType),
      t(`blk.${i}.attn_output.weight`, [embd, embd], matrixType),
      t(`blk.${i}.ffn_norm.weight`, [embd], "F32", 1),
      t(`blk.${i}.ffn_gate.weight`, [embd, ff], matrixType),
      t(`blk.${i}.ffn_up.weight`, [embd, ff], matrixType),
      t(`blk.${i}.ffn_down.weight`, [ff, embd], matrixType),
    );
  }
  tensors.push(t("output_norm.weight", [embd], "F32", 1), t("output.weight", [embd, vocab.tokens.length]));
  const kvs: [string, Kv][] = [
    ["general.architecture", kv.str("llama")],
    ["general.name", kv.str("kiana-tiny-llama")],
    ["general.file_type", kv.u32(fileTypeId(matrixType))],
    ["llama.context_length", kv.u32(context)],
    ["llama.embedding_length", kv.u32(embd)],
    ["llama.block_count", kv.u32(layers)],
    ["llama.feed_forward_length", kv.u32(ff)],
    ["llama.attention.head_count", kv.u32(heads)],
    ["llama.attention.head_count_kv", kv.u32(kvHeads)],
    ["llama.attention.layer_norm_rms_epsilon", kv.f32(1e-5)],
    ["llama.rope.dimension_count", kv.u32(embd / heads)],
    ["llama.rope.freq_base", kv.f32(10000)],
    ["tokenizer.ggml.model", kv.str("llama")],
    ["tokenizer.ggml.tokens", kv.arr("string", vocab.tokens)],
    ["tokenizer.ggml.scores", kv.arr("float32", vocab.scores)],
    ["tokenizer.ggml.token_type", kv.arr("int32", vocab.types)],
    ["tokenizer.ggml.unknown_token_id", kv.u32(0)],
    ["tokenizer.ggml.bos_token_id", kv.u32(1)],
    ["tokenizer.ggml.eos_token_id", kv.u32(2)],
    ["tokenizer.ggml.add_bos_token", kv.bool(true)],
  ];
  return { version: opts.version ?? 3, kvs, tensors };
}

export function writeTinyLlama(path: string, opts: TinyLlamaOptions = {}): EncodedGguf {
  return writeGguf(path, tinyLlamaSpec(opts));
}
