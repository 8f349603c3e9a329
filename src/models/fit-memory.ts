// The memory model behind loading decisions: weights, KV cache and compute buffers of a GGUF model
// at a given context, placed on the CPU, in unified memory, or split with a discrete GPU.
import type { GgufInfo } from "./gguf.ts";

export interface MemoryEstimate {
  weightsBytes: number;
  kvCacheBytes: number;
  computeBytes: number;
  /** What lands in GPU memory (all of it on unified memory) and in RAM. */
  gpuBytes: number;
  cpuBytes: number;
}

const MiB = 2 ** 20;
// CUDA context, cuBLAS workspace and kernels take about this much wherever a CUDA backend runs.
export const GPU_RUNTIME = 512 * MiB;
// Graph metadata, scratch and the host-side buffers llama.cpp allocates whatever the model.
export const COMPUTE_FIXED = 64 * MiB;
// llama.cpp's default micro-batch: the compute buffer holds one micro-batch's activations.
const UBATCH = 512;
const KV_BYTES = 2; // f16 K and V caches, llama.cpp's default

export interface LlamaShape {
  layers: number;
  layerBytes: number[];
  kvPerLayer: (ctx: number) => number;
  compute: (ctx: number) => number;
}

export function llamaShape(m: GgufInfo): LlamaShape {
  const layers = Math.max(m.blockCount ?? 0, m.layerBytes.length);
  const layerBytes = Array.from({ length: layers }, (_, i) => m.layerBytes[i] ?? 0);
  const embd = m.embeddingLength ?? 0;
  const heads = m.headCount ?? 0;
  const kvWidth = (m.headCountKv ?? heads) * ((m.keyLength ?? 0) + (m.valueLength ?? 0));
  return {
    layers,
    layerBytes,
    // K and V for every position of the context, per layer.
    kvPerLayer: (ctx) => ctx * kvWidth * KV_BYTES,
    // One micro-batch's f32 attention scores (ctx × heads per token; llama.cpp's default runs
    // without flash attention) plus its hidden and feed-forward activations.
    compute: (ctx) =>
      COMPUTE_FIXED + UBATCH * 4 * (ctx * heads + 4 * embd + 2 * (m.feedForwardLength ?? 4 * embd)),
  };
}

/** Contexts to try: the wanted one, then halving down to the floor. */
export function contextSteps(want: number, floor: number): number[] {
  const steps = [want];
  for (let c = want; c > floor; ) {
    c = Math.max(floor, Math.floor(c / 2));
    steps.push(c);
  }
  return steps;
}

export interface Placement {
  gpuLayers: number;
  memory: MemoryEstimate;
}

/** Everything in one pool: the CPU, or a GPU that shares RAM (then gpuBytes is the whole model). */
export function placeWhole(m: GgufInfo, s: LlamaShape, ctx: number, onGpu: boolean): Placement {
  const kv = s.layers * s.kvPerLayer(ctx);
  const compute = s.compute(ctx);
  const total = m.tensorBytes + kv + compute + (onGpu ? GPU_RUNTIME : 0);
  const memory = {
    weightsBytes: m.tensorBytes,
    kvCacheBytes: kv,
    computeBytes: compute,
    gpuBytes: onGpu ? total : 0,
    cpuBytes: total,
  };
  return { gpuLayers: onGpu ? s.layers + 1 : 0, memory };
}

/**
 * A discrete GPU takes layers from the last one down while they and their KV cache fit (llama.cpp
 * offloads the last layers first), then the output layer if every block fit. The input embedding
 * stays in RAM; a tied output layer is copied to the GPU.
 */
export function placeSplit(m: GgufInfo, s: LlamaShape, ctx: number, vram: number): Placement {
  const kvLayer = s.kvPerLayer(ctx);
  const compute = s.compute(ctx);
  let gpu = compute + GPU_RUNTIME;
  let n = 0;
  for (let i = s.layers - 1; i >= 0; i--) {
    const add = (s.layerBytes[i] ?? 0) + kvLayer;
    if (gpu + add > vram) break;
    gpu += add;
    n++;
  }
  const outputOnGpu =
    n === s.layers && gpu + m.outputBytes + (m.hasOutputWeight ? 0 : m.embeddingBytes) <= vram;
  if (outputOnGpu) gpu += m.outputBytes + (m.hasOutputWeight ? 0 : m.embeddingBytes);
  const cpuLayers = s.layerBytes.slice(0, s.layers - n).reduce((a, b) => a + b, 0);
  const cpu =
    m.embeddingBytes +
    (outputOnGpu ? 0 : m.outputBytes) +
    cpuLayers +
    (s.layers - n) * kvLayer +
    COMPUTE_FIXED;
  const memory = {
    weightsBytes: m.tensorBytes,
    kvCacheBytes: s.layers * kvLayer,
    computeBytes: compute,
    gpuBytes: gpu,
    cpuBytes: cpu,
  };
  return { gpuLayers: n + (outputOnGpu ? 1 : 0), memory };
}
