// GGUF headers with real models' shapes (0.5B to 70B) over sparse files: the header claims tens of
// gigabytes while the disk holds a few kilobytes, so loading decisions are tested on true sizes.
import { fileTypeId } from "./ggml-types.ts";
import { type GgufSpec, type Kv, kv, type TensorSpec, writeGguf } from "./gguf-writer.test-helper.ts";

export interface ClaimedModel {
  arch: string;
  name: string;
  layers: number;
  embd: number;
  ff: number;
  heads: number;
  kvHeads: number;
  vocab: number;
  context: number;
  quant: "Q4_K_M" | "Q8_0";
  /** No output.weight: the output reuses token_embd. */
  tiedEmbeddings: boolean;
}

// Shapes as published for Qwen2.5 0.5B/1.5B, Llama 3.2 3B, Mistral 7B v0.3, Llama 3.1 8B and 70B.
export const CLAIMED_MODELS = {
  "0.5B Q4_K_M": {
    arch: "qwen2",
    name: "Qwen2.5 0.5B Instruct",
    layers: 24,
    embd: 896,
    ff: 4864,
    heads: 14,
    kvHeads: 2,
    vocab: 151936,
    context: 32768,
    quant: "Q4_K_M",
    tiedEmbeddings: true,
  },
  "1.5B Q4_K_M": {
    arch: "qwen2",
    name: "Qwen2.5 1.5B Instruct",
    layers: 28,
    embd: 1536,
    ff: 8960,
    heads: 12,
    kvHeads: 2,
    vocab: 151936,
    context: 32768,
    quant: "Q4_K_M",
    tiedEmbeddings: true,
  },
  "3B Q4_K_M": {
    arch: "llama",
    name: "Llama 3.2 3B Instruct",
    layers: 28,
    embd: 3072,
    ff: 8192,
    heads: 24,
    kvHeads: 8,
    vocab: 128256,
    context: 131072,
    quant: "Q4_K_M",
    tiedEmbeddings: true,
  },
  "7B Q4_K_M": {
    arch: "llama",
    name: "Mistral 7B Instruct v0.3",
    layers: 32,
    embd: 4096,
    ff: 14336,
    heads: 32,
    kvHeads: 8,
    vocab: 32768,
    context: 32768,
    quant: "Q4_K_M",
    tiedEmbeddings: false,
  },
  "8B Q8_0": {
    arch: "llama",
    name: "Llama 3.1 8B Instruct",
    layers: 32,
    embd: 4096,
    ff: 14336,
    heads: 32,
    kvHeads: 8,
    vocab: 128256,
    context: 131072,
    quant: "Q8_0",
    tiedEmbeddings: false,
  },
  "70B Q4_K_M": {
    arch: "llama",
    name: "Llama 3.1 70B Instruct",
    layers: 80,
    embd: 8192,
    ff: 28672,
    heads: 64,
    kvHeads: 8,
    vocab: 128256,
    context: 131072,
    quant: "Q4_K_M",
    tiedEmbeddings: false,
  },
} satisfies Record<string, ClaimedModel>;

export type ClaimedModelName = keyof typeof CLAIMED_MODELS;

/**
 * Tensor types in the spirit of llama.cpp's Q4_K_M mix: Q4_K for most matrices, Q6_K for the output
 * and for attn_v and ffn_down on every other layer, Q5_0/Q8_0 where a row is not a multiple of 256.
 */
function typeFor(m: ClaimedModel, name: string, ne0: number, layer: number): string {
  if (m.quant === "Q8_0") return "Q8_0";
  const wide = name === "output" || ((name === "attn_v" || name === "ffn_down") && layer % 2 === 0);
  if (ne0 % 256 !== 0) return wide ? "Q8_0" : "Q5_0";
  return wide ? "Q6_K" : "Q4_K";
}

export function claimedSpec(m: ClaimedModel): GgufSpec {
  const headDim = m.embd / m.heads;
  const kvDim = headDim * m.kvHeads;
  const matrix = (name: string, layer: number, ne0: number, ne1: number): TensorSpec => ({
    name: layer < 0 ? `${name}.weight` : `blk.${layer}.${name}.weight`,
    dims: [ne0, ne1],
    type: typeFor(m, name, ne0, layer),
  });
  const norm = (name: string): TensorSpec => ({ name, dims: [m.embd], type: "F32" });
  const tensors: TensorSpec[] = [matrix("token_embd", -1, m.embd, m.vocab)];
  for (let i = 0; i < m.layers; i++) {
    tensors.push(
      norm(`blk.${i}.attn_norm.weight`),
      matrix("attn_q", i, m.embd, m.embd),
      matrix("attn_k", i, m.embd, kvDim),
      matrix("attn_v", i, m.embd, kvDim),
      matrix("attn_output", i, m.embd, m.embd),
      norm(`blk.${i}.ffn_norm.weight`),
      matrix("ffn_gate", i, m.embd, m.ff),
      matrix("ffn_up", i, m.embd, m.ff),
      matrix("ffn_down", i, m.ff, m.embd),
    );
  }
  tensors.push(norm("output_norm.weight"));
  if (!m.tiedEmbeddings) tensors.push(matrix("output", -1, m.embd, m.vocab));
  const a = m.arch;
  const kvs: [string, Kv][] = [
    ["general.architecture", kv.str(a)],
    ["general.name", kv.str(m.name)],
    ["general.file_type", kv.u32(fileTypeId(m.quant))],
    [`${a}.context_length`, kv.u32(m.context)],
    [`${a}.embedding_length`, kv.u32(m.embd)],
    [`${a}.block_count`, kv.u32(m.layers)],
    [`${a}.feed_forward_length`, kv.u32(m.ff)],
    [`${a}.attention.head_count`, kv.u32(m.heads)],
    [`${a}.attention.head_count_kv`, kv.u32(m.kvHeads)],
    // The vocabulary itself is left out to keep headers small; the size is declared instead.
    [`${a}.vocab_size`, kv.u32(m.vocab)],
  ];
  return { version: 3, kvs, tensors };
}

/** Writes the claimed model as a sparse file at `path`. */
export function writeClaimedModel(path: string, m: ClaimedModel) {
  return writeGguf(path, claimedSpec(m));
}
