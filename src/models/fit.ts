// Hardware-fit decisions: which engine, backend, GPU layers, context size and threads a model gets on
// this board, or a refusal that names the numbers that did not fit. Pure: values in, a decision out.
import { type KianaError, kianaError } from "../errors.ts";
import type { HardwareProfile } from "../platform/hardware-profile.ts";
import {
  COMPUTE_FIXED,
  contextSteps,
  llamaShape,
  type MemoryEstimate,
  type Placement,
  placeSplit,
  placeWhole,
} from "./fit-memory.ts";
import type { GgufInfo } from "./gguf.ts";
import type { OnnxInfo } from "./onnx-meta.ts";

export type { MemoryEstimate } from "./fit-memory.ts";

export type LlamaBackend = "cpu" | "cuda" | "vulkan";
export type OnnxProvider = "cpu" | "cuda";

export interface LoadBudget {
  /** RAM kept back for the OS and the rest of the runtime (voice, mesh, chain). Default 1 GiB. */
  reserveBytes?: number;
  /** Memory of a discrete GPU, measured by the engine at runtime: the profile cannot know it. */
  gpuMemoryBytes?: number | null;
  /** Discrete GPU memory kept back for the display and other processes. Default 512 MiB. */
  gpuReserveBytes?: number;
  /** GPU backends the installed llama.cpp binaries were built with. Default: all of them. */
  llamaBackends?: readonly LlamaBackend[];
  /** Execution providers the installed onnxruntime offers. Default: all of them. */
  onnxProviders?: readonly OnnxProvider[];
  /** The smallest context worth loading a chat model for. Default 512. */
  contextFloor?: number;
}

export interface DecideLoadInput {
  profile: HardwareProfile;
  model: GgufInfo | OnnxInfo;
  budget?: LoadBudget;
  /** Context the caller would like; default and cap: the model's trained context. */
  wantContext?: number;
}

export interface LlamaPlan {
  ok: true;
  engine: "llama.cpp";
  backend: LlamaBackend;
  /** llama.cpp's count: blocks plus one for the output layer. */
  gpuLayers: number;
  totalLayers: number;
  contextSize: number;
  threads: number;
  mmap: boolean;
  memory: MemoryEstimate;
  ramBudgetBytes: number;
  gpuBudgetBytes: number | null;
  /** Why each choice was made, for logs and `kiana doctor`. */
  reasons: string[];
}

export interface OnnxPlan {
  ok: true;
  engine: "onnxruntime";
  backend: OnnxProvider;
  executionProviders: OnnxProvider[];
  intraOpThreads: number;
  memory: MemoryEstimate;
  ramBudgetBytes: number;
  reasons: string[];
}

export interface LoadRefusal {
  ok: false;
  engine: "llama.cpp" | "onnxruntime";
  reason: string;
  /** The least the model needs (at the context floor) and what the budget holds. */
  needBytes: number;
  haveBytes: number;
  contextSize: number | null;
  memory: MemoryEstimate;
}

export type LoadDecision = LlamaPlan | OnnxPlan | LoadRefusal;

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const DEFAULT_RESERVE = GiB;
const DEFAULT_GPU_RESERVE = 512 * MiB;
const FALLBACK_CONTEXT = 2048;

const gib = (bytes: number) => `${(bytes / GiB).toFixed(2)} GiB`;

/**
 * Threads: every core is treated as a physical performance core (the profile exposes no SMT or
 * big.LITTLE split); boards with 4 cores or fewer leave one for the rest of the runtime, which
 * keeps audio capture and the mesh responsive while a model generates.
 */
export function threadsFor(profile: HardwareProfile): number {
  const cores = profile.cpu.cores;
  if (cores <= 0) return 1;
  return cores <= 4 ? Math.max(1, cores - 1) : cores;
}

/**
 * Vulkan ICDs llama.cpp should not use: lavapipe is software rendering on the CPU, and the
 * Raspberry Pi's V3D (broadcom) driver is slower than the Pi's own cores for llama.cpp's kernels.
 */
function usableVulkan(icds: string[]): string[] {
  return icds.filter((n) => !/^(lvp|broadcom)_icd/.test(n));
}

interface GpuChoice {
  backend: LlamaBackend;
  /** GPU memory shares the RAM pool (Jetson). */
  unified: boolean;
  reasons: string[];
}

/**
 * The GPU comes from the profile by rule, never "first found": CUDA where an NVIDIA GPU is present
 * (Jetson's integrated one or a discrete card), else a usable Vulkan device, else the CPU. A backend
 * the installed llama.cpp was not built with is skipped with a reason.
 */
function pickLlamaGpu(profile: HardwareProfile, installed: readonly LlamaBackend[]): GpuChoice {
  const reasons: string[] = [];
  const { cuda, vulkan } = profile.accelerators;
  if (cuda) {
    if (installed.includes("cuda")) {
      const what = cuda.unifiedMemory ? "integrated NVIDIA GPU with unified memory" : "NVIDIA GPU";
      return { backend: "cuda", unified: cuda.unifiedMemory, reasons: [`CUDA: ${what}`] };
    }
    reasons.push("an NVIDIA GPU is present but the installed llama.cpp has no CUDA build");
  }
  const icds = usableVulkan(vulkan);
  if (icds.length > 0) {
    if (installed.includes("vulkan"))
      return { backend: "vulkan", unified: false, reasons: [...reasons, `Vulkan: ${icds.join(", ")}`] };
    reasons.push("a Vulkan device is present but the installed llama.cpp has no Vulkan build");
  }
  return { backend: "cpu", unified: false, reasons: [...reasons, "CPU: no usable GPU"] };
}

function decideLlama(input: DecideLoadInput, m: GgufInfo): LlamaPlan | LoadRefusal {
  const { profile, budget = {} } = input;
  const ram = profile.memory.totalBytes - (budget.reserveBytes ?? DEFAULT_RESERVE);
  const shape = llamaShape(m);
  const trained = m.contextLength ?? FALLBACK_CONTEXT;
  const want = Math.min(input.wantContext ?? trained, trained);
  const floor = Math.min(budget.contextFloor ?? 512, want);
  const steps = contextSteps(want, floor);
  const gpu = pickLlamaGpu(profile, budget.llamaBackends ?? ["cpu", "cuda", "vulkan"]);
  const reasons = [...gpu.reasons];
  if (input.wantContext !== undefined && input.wantContext > trained)
    reasons.push(`context capped at the trained ${trained}`);
  if (m.blockCount === null || m.headCountKv === null || m.keyLength === null)
    reasons.push("no attention shape in the header: KV cache not counted");

  // Discrete GPUs need their memory size from the engine; without it, fall back to the CPU.
  const vram =
    gpu.backend !== "cpu" && !gpu.unified && budget.gpuMemoryBytes
      ? budget.gpuMemoryBytes - (budget.gpuReserveBytes ?? DEFAULT_GPU_RESERVE)
      : null;
  if (gpu.backend !== "cpu" && !gpu.unified && vram === null)
    reasons.push("GPU memory size unknown: using the CPU");
  const useGpu = gpu.backend !== "cpu" && (gpu.unified || vram !== null);

  const base = {
    ok: true as const,
    engine: "llama.cpp" as const,
    totalLayers: shape.layers + 1,
    threads: threadsFor(profile),
    mmap: true,
    ramBudgetBytes: ram,
  };
  const plan = (backend: LlamaBackend, p: Placement, ctx: number, extra: string[]): LlamaPlan => ({
    ...base,
    backend,
    gpuLayers: p.gpuLayers,
    contextSize: ctx,
    memory: p.memory,
    gpuBudgetBytes: backend === "cpu" ? null : gpu.unified ? ram : vram,
    reasons: [
      ...reasons,
      ...extra,
      ...(ctx < want ? [`context reduced from ${want} to ${ctx} to fit ${gib(ram)}`] : []),
      `${base.threads} threads of ${profile.cpu.cores} cores`,
      "mmap on: the profile flags no slow storage",
    ],
  });

  if (ram > 0 && useGpu) {
    for (const ctx of steps) {
      if (gpu.unified) {
        const p = placeWhole(m, shape, ctx, true);
        if (p.memory.cpuBytes <= ram) return plan(gpu.backend, p, ctx, ["whole model in unified memory"]);
      } else {
        const p = placeSplit(m, shape, ctx, vram ?? 0);
        if (p.gpuLayers > 0 && p.memory.cpuBytes <= ram) {
          return plan(gpu.backend, p, ctx, [
            `${p.gpuLayers} of ${shape.layers + 1} layers fit in ${gib(vram ?? 0)} of GPU memory`,
          ]);
        }
      }
    }
    reasons.push(`nothing fits on the ${gpu.backend.toUpperCase()} GPU: trying the CPU`);
  }
  if (ram > 0) {
    for (const ctx of steps) {
      const p = placeWhole(m, shape, ctx, false);
      if (p.memory.cpuBytes <= ram) return plan("cpu", p, ctx, []);
    }
  }

  const least = placeWhole(m, shape, floor, false);
  const have = Math.max(0, ram) + (useGpu && !gpu.unified ? (vram ?? 0) : 0);
  const { weightsBytes: w, kvCacheBytes: kv, computeBytes: c } = least.memory;
  const where =
    ram <= 0
      ? "the board's memory size is unknown or below the reserve"
      : `the budget is ${gib(have)} (RAM ${gib(profile.memory.totalBytes)} minus ${gib(budget.reserveBytes ?? DEFAULT_RESERVE)} reserve${have > ram ? `, plus ${gib(vram ?? 0)} of GPU memory` : ""})`;
  return {
    ok: false,
    engine: "llama.cpp",
    reason: `${m.name ?? "model"} needs ${gib(least.memory.cpuBytes)} at context ${floor} (weights ${gib(w)}, KV cache ${gib(kv)}, compute ${gib(c)}) but ${where}`,
    needBytes: least.memory.cpuBytes,
    haveBytes: have,
    contextSize: floor,
    memory: least.memory,
  };
}

/**
 * onnxruntime holds the parsed protobuf and the initializer tensors while it builds a session, so the
 * peak is about twice the weights plus its arena. CUDA only where the profile has an NVIDIA GPU and the
 * installed onnxruntime offers the provider; CPU stays listed for operators CUDA lacks.
 */
function decideOnnx(input: DecideLoadInput, m: OnnxInfo): OnnxPlan | LoadRefusal {
  const { profile, budget = {} } = input;
  const ram = profile.memory.totalBytes - (budget.reserveBytes ?? DEFAULT_RESERVE);
  const need = 2 * m.initializerBytes + COMPUTE_FIXED;
  const memory = {
    weightsBytes: m.initializerBytes,
    kvCacheBytes: 0,
    computeBytes: COMPUTE_FIXED,
    gpuBytes: 0,
    cpuBytes: need,
  };
  if (need > ram) {
    const reason = `ONNX model needs ${gib(need)} (weights ${gib(m.initializerBytes)}, twice while loading) but the budget is ${gib(Math.max(0, ram))}`;
    return {
      ok: false,
      engine: "onnxruntime",
      reason,
      needBytes: need,
      haveBytes: Math.max(0, ram),
      contextSize: null,
      memory,
    };
  }
  const threads = threadsFor(profile);
  const reasons = [`${threads} intra-op threads of ${profile.cpu.cores} cores`];
  const cudaOk =
    profile.accelerators.cuda !== null && (budget.onnxProviders ?? ["cpu", "cuda"]).includes("cuda");
  if (profile.accelerators.cuda && !cudaOk)
    reasons.unshift("an NVIDIA GPU is present but the installed onnxruntime has no CUDA provider");
  const backend: OnnxProvider = cudaOk ? "cuda" : "cpu";
  reasons.unshift(cudaOk ? "CUDA execution provider, CPU for the rest" : "CPU execution provider");
  return {
    ok: true,
    engine: "onnxruntime",
    backend,
    executionProviders: cudaOk ? ["cuda", "cpu"] : ["cpu"],
    intraOpThreads: threads,
    memory: { ...memory, gpuBytes: cudaOk ? m.initializerBytes : 0 },
    ramBudgetBytes: ram,
    reasons,
  };
}

/** How (and whether) to load `model` on the board described by `profile`. */
export function decideLoad(input: DecideLoadInput): LoadDecision {
  return input.model.format === "gguf" ? decideLlama(input, input.model) : decideOnnx(input, input.model);
}

/** The refusal as the error callers throw and the HTTP layer maps. */
export function refusalError(d: LoadRefusal): KianaError {
  const { reason, needBytes, haveBytes, contextSize, engine } = d;
  return kianaError("MODEL_DOES_NOT_FIT", reason, { engine, needBytes, haveBytes, contextSize });
}
