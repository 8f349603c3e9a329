// Loads one GGUF model at a time through node-llama-cpp with the backend, GPU layers, context and
// threads that our hardware-fit plan chose; a model the board cannot hold is refused before loading.
import type * as NodeLlamaCpp from "node-llama-cpp";
import { describeError, type KianaError, kianaError } from "../errors.ts";
import type { EngineLog } from "../platform/engines.ts";
import type { HardwareProfile } from "../platform/hardware-profile.ts";
import { decideLoad, type LlamaPlan, type LoadBudget, refusalError } from "./fit.ts";
import { type GgufInfo, readGgufInfo } from "./gguf.ts";

export type LlamaModule = typeof NodeLlamaCpp;

/** A model as the engines need it; the registry's rows map onto this. */
export interface ModelRef {
  id: string;
  name: string;
  path: string;
  kind: "gguf" | "onnx";
}

/** A request the model cannot serve as given: a client error (HTTP 400), not an engine failure. */
export interface InputProblem {
  ok: false;
  code: "context_length_exceeded" | "invalid_input" | "unsupported_model";
  param: string;
  message: string;
}

/** Text, or token ids (OpenAI's pre-tokenized form; for ONNX models, the input tensor's row). */
export type EmbedInput = string | readonly number[];
export type EmbedOutcome = { ok: true; vectors: number[][]; tokens: number } | InputProblem;

export interface LoadedLlama {
  readonly ref: ModelRef;
  readonly info: GgufInfo;
  readonly plan: LlamaPlan;
  readonly mod: LlamaModule;
  readonly model: NodeLlamaCpp.LlamaModel;
  readonly loadMs: number;
  /** Embeddings (pooled as the model says) from a separate embedding context made on first use. */
  embed(inputs: readonly EmbedInput[]): Promise<EmbedOutcome>;
}

/** A loaded model held for one request: loading another model waits until every lease is released. */
export interface LlamaLease {
  loaded: LoadedLlama;
  release(): void;
}

export interface LlamaEngineOptions {
  /** The node-llama-cpp module, from the engine registry: `() => engines.load("llama")`. */
  loadLlama: () => Promise<LlamaModule>;
  profile: HardwareProfile;
  budget?: LoadBudget;
  log?: EngineLog;
  /** Chat context wanted; default and cap: the model's trained context (the plan may shrink it). */
  wantContext?: number;
  /** Size of the embedding context. Default 512, never above the plan's context. */
  embedContext?: number;
}

export interface LlamaEngine {
  /** Loads `ref` (disposing the model loaded before it) and holds it until `release`. */
  acquire(ref: ModelRef): Promise<LlamaLease>;
  load(ref: ModelRef): Promise<LoadedLlama>;
  current(): LoadedLlama | null;
  dispose(): Promise<void>;
}

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

/** Maps a node-llama-cpp failure to our codes, with the plan's numbers and llama.cpp's own reason. */
export function llamaFailure(
  mod: LlamaModule,
  ref: ModelRef,
  plan: LlamaPlan,
  what: string,
  cause: unknown,
  llamaSaid: readonly string[] = [],
): KianaError {
  const details = {
    model: ref.id,
    path: ref.path,
    backend: plan.backend,
    gpuLayers: plan.gpuLayers,
    contextSize: plan.contextSize,
    needBytes: plan.memory.cpuBytes,
    gpuBytes: plan.memory.gpuBytes,
    haveBytes: plan.ramBudgetBytes,
  };
  const reason = [describeError(cause), ...llamaSaid.slice(-2)].join("; ");
  if (cause instanceof mod.InsufficientMemoryError) {
    const msg = `model ${ref.id}: llama.cpp found too little free memory to ${what} (${plan.gpuLayers}/${plan.totalLayers} layers on ${plan.backend}, context ${plan.contextSize}; planned ${gib(plan.memory.cpuBytes)} RAM and ${gib(plan.memory.gpuBytes)} GPU within a ${gib(plan.ramBudgetBytes)} budget): ${reason}`;
    return kianaError("MODEL_DOES_NOT_FIT", msg, details, cause);
  }
  const msg = `model ${ref.id} (${ref.path}): llama.cpp failed to ${what} on ${plan.backend}: ${reason}`;
  return kianaError("MODEL_ENGINE_FAILED", msg, details, cause);
}

/**
 * Every sequence gets the plan's whole context and its own KV cache, and the plan counted one:
 * further sequences only where the budget's headroom (RAM, and GPU memory when layers are split
 * onto a discrete GPU) holds another KV cache each.
 */
export function sequencesFor(plan: LlamaPlan, max: number): number {
  const kv = plan.memory.kvCacheBytes;
  if (kv <= 0) return Math.max(1, max);
  let extra = Math.floor((plan.ramBudgetBytes - plan.memory.cpuBytes) / kv);
  if (plan.backend !== "cpu" && plan.gpuBudgetBytes !== null && plan.gpuBudgetBytes !== plan.ramBudgetBytes)
    extra = Math.min(extra, Math.floor((plan.gpuBudgetBytes - plan.memory.gpuBytes) / kv));
  return Math.max(1, Math.min(max, 1 + extra));
}

export function createLlamaEngine(opts: LlamaEngineOptions): LlamaEngine {
  const { profile, budget, log } = opts;
  let queue: Promise<unknown> = Promise.resolve();
  let current: Held | null = null;
  let runtime: { gpu: NodeLlamaCpp.LlamaGpuType; llama: NodeLlamaCpp.Llama } | null = null;
  // llama.cpp explains a failed load only in its log; the latest lines go into our error.
  const llamaSaid: string[] = [];

  interface Held {
    loaded: LoadedLlama;
    users: number;
    idle: (() => void)[];
    close(): Promise<void>;
  }

  /** Loads and unloads run one at a time: two models are never half-loaded side by side. */
  function serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  }

  async function llamaFor(mod: LlamaModule, ref: ModelRef, plan: LlamaPlan): Promise<NodeLlamaCpp.Llama> {
    // The GPU type is ours, from the plan; node-llama-cpp's "auto" would pick whatever it finds first.
    const gpu = plan.backend === "cpu" ? false : plan.backend;
    if (runtime?.gpu === gpu) return runtime.llama;
    if (runtime) await runtime.llama.dispose();
    runtime = null;
    try {
      const llama = await mod.getLlama({
        build: "never",
        gpu,
        progressLogs: false,
        logLevel: mod.LlamaLogLevel.warn,
        logger: (level, message) => {
          if (level !== mod.LlamaLogLevel.error && level !== mod.LlamaLogLevel.fatal) return;
          llamaSaid.push(message.trim());
          if (llamaSaid.length > 8) llamaSaid.shift();
          log?.warn({ engine: "llama", message: message.trim() }, "llama.cpp error");
        },
      });
      runtime = { gpu, llama };
      return llama;
    } catch (cause) {
      throw llamaFailure(mod, ref, plan, "start its backend", cause);
    }
  }

  async function unloadCurrent(): Promise<void> {
    const held = current;
    if (!held) return;
    current = null;
    if (held.users > 0) await new Promise<void>((resolve) => held.idle.push(resolve));
    await held.close();
  }

  async function loadNew(ref: ModelRef): Promise<Held> {
    if (ref.kind !== "gguf") {
      throw kianaError("MODEL_ENGINE_FAILED", `model ${ref.id} is ${ref.kind}: llama.cpp loads GGUF`, {
        model: ref.id,
      });
    }
    const info = await readGgufInfo(ref.path);
    const decision = decideLoad({ profile, model: info, budget, wantContext: opts.wantContext });
    if (!decision.ok) {
      const err = refusalError(decision);
      throw kianaError(err.code, `model ${ref.id}: ${err.message}`, { ...err.details, model: ref.id }, err);
    }
    if (decision.engine !== "llama.cpp") throw new Error("a GGUF model got an ONNX plan");
    const plan = decision;
    await unloadCurrent();
    const mod = await opts.loadLlama();
    const llama = await llamaFor(mod, ref, plan);
    llamaSaid.length = 0;
    const t0 = performance.now();
    let model: NodeLlamaCpp.LlamaModel;
    try {
      model = await llama.loadModel({ modelPath: ref.path, gpuLayers: plan.gpuLayers, useMmap: plan.mmap });
    } catch (cause) {
      throw llamaFailure(mod, ref, plan, "load the model", cause, llamaSaid);
    }
    const loadMs = performance.now() - t0;
    log?.info({ model: ref.id, backend: plan.backend, gpuLayers: plan.gpuLayers, loadMs }, "model loaded");
    return hold({ ref, info, plan, mod, model, loadMs });
  }

  function hold(base: Omit<LoadedLlama, "embed">): Held {
    const { ref, info, plan, mod, model } = base;
    const embedSize = Math.min(opts.embedContext ?? 512, plan.contextSize);
    let embedCtx: Promise<NodeLlamaCpp.LlamaEmbeddingContext> | null = null;
    let embedQueue: Promise<unknown> = Promise.resolve();
    const vocab = info.vocabSize ?? Number.MAX_SAFE_INTEGER;

    async function embedNow(inputs: readonly EmbedInput[]): Promise<EmbedOutcome> {
      const lists: NodeLlamaCpp.Token[][] = [];
      for (const [i, input] of inputs.entries()) {
        const param = inputs.length > 1 ? `input[${i}]` : "input";
        if (typeof input !== "string" && !input.every((t) => Number.isInteger(t) && t >= 0 && t < vocab)) {
          const message = `${param}: token ids must be integers in 0..${vocab - 1}`;
          return { ok: false, code: "invalid_input", param, message };
        }
        const tokens = (
          typeof input === "string" ? model.tokenize(input) : [...input]
        ) as NodeLlamaCpp.Token[];
        if (tokens.length > embedSize) {
          const message = `${param} has ${tokens.length} tokens; the embedding context of ${ref.id} holds ${embedSize}`;
          return { ok: false, code: "context_length_exceeded", param, message };
        }
        lists.push(tokens);
      }
      embedCtx ??= model.createEmbeddingContext({ contextSize: embedSize, threads: plan.threads });
      const ctx = await embedCtx.catch((cause: unknown) => {
        embedCtx = null;
        throw llamaFailure(mod, ref, plan, "create an embedding context", cause, llamaSaid);
      });
      const vectors: number[][] = [];
      for (const tokens of lists) vectors.push(Array.from((await ctx.getEmbeddingFor(tokens)).vector));
      return { ok: true, vectors, tokens: lists.reduce((n, t) => n + t.length, 0) };
    }

    const loaded: LoadedLlama = {
      ...base,
      embed(inputs) {
        // One embedding batch at a time: the context has a single sequence.
        const run = embedQueue.then(() => embedNow(inputs));
        embedQueue = run.catch(() => undefined);
        return run;
      },
    };
    return {
      loaded,
      users: 0,
      idle: [],
      async close() {
        // Disposing the model disposes its contexts too. It can hang in node-llama-cpp (see chat.ts'
        // dispose); a stuck unload must not stop every later load, so it is bounded and reported.
        const done = await Promise.race([
          model.dispose().then(() => true),
          Bun.sleep(15_000).then(() => false),
        ]);
        if (done) log?.info({ model: ref.id }, "model unloaded");
        else
          log?.warn({ model: ref.id }, "model dispose did not finish in 15 s; loading the next one anyway");
      },
    };
  }

  function lease(held: Held): LlamaLease {
    held.users++;
    let released = false;
    return {
      loaded: held.loaded,
      release() {
        if (released) return;
        released = true;
        if (--held.users === 0) for (const wake of held.idle.splice(0)) wake();
      },
    };
  }

  const acquire = (ref: ModelRef) =>
    serialized(async () => {
      if (!current || current.loaded.ref.path !== ref.path) current = await loadNew(ref);
      return lease(current);
    });

  return {
    acquire,
    async load(ref) {
      const l = await acquire(ref);
      l.release();
      return l.loaded;
    },
    current: () => current?.loaded ?? null,
    dispose: () =>
      serialized(async () => {
        await unloadCurrent();
        await runtime?.llama.dispose();
        runtime = null;
      }),
  };
}
