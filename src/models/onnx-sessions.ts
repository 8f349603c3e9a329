// One shared onnxruntime session per model file, made with the execution providers and intra-op
// threads of the ONNX load plan; past the bound the least recently used session is released.
import type * as Ort from "onnxruntime-node";
import { describeError, kianaError } from "../errors.ts";
import type { EngineLog } from "../platform/engines.ts";
import type { HardwareProfile } from "../platform/hardware-profile.ts";
import { decideLoad, type LoadBudget, type OnnxPlan, refusalError } from "./fit.ts";
import type { EmbedInput, EmbedOutcome, InputProblem, LlamaEngine, ModelRef } from "./llama-engine.ts";
import { type OnnxInfo, readOnnxInfo } from "./onnx-meta.ts";

export type OnnxModule = typeof Ort;
export type EmbedFn = (ref: ModelRef, inputs: readonly EmbedInput[]) => Promise<EmbedOutcome>;

export interface OnnxSession {
  readonly ref: ModelRef;
  readonly info: OnnxInfo;
  readonly plan: OnnxPlan;
  readonly ort: OnnxModule;
  readonly session: Ort.InferenceSession;
}

export interface OnnxSessionsOptions {
  /** onnxruntime-node, from the engine registry: `() => engines.load("onnxruntime")`. */
  loadOnnx: () => Promise<OnnxModule>;
  profile: HardwareProfile;
  budget?: LoadBudget;
  /** Open sessions kept (wake word, VAD, embeddings, ...). Default 4. */
  maxSessions?: number;
  log?: EngineLog;
}

export interface OnnxSessions {
  /** Runs `fn` with the model's session, opened on first use; eviction waits for the last user. */
  use<T>(ref: ModelRef, fn: (s: OnnxSession) => Promise<T>): Promise<T>;
  /**
   * Embeddings from a model with one numeric input [batch, width] and one float32 output, either
   * [batch, dim] or [batch, positions, dim] (then averaged over positions). No tokenizer is bundled:
   * inputs are rows of numbers (OpenAI's token-array form), not text.
   */
  embed(ref: ModelRef, inputs: readonly EmbedInput[]): Promise<EmbedOutcome>;
  /** Paths of the open sessions, least recently used first. */
  paths(): string[];
  dispose(): Promise<void>;
}

interface Entry {
  ready: Promise<OnnxSession>;
  users: number;
  evicted: boolean;
}

const INPUT_TYPES = { float32: Float32Array, int32: Int32Array, int64: BigInt64Array } as const;

export function createOnnxSessions(opts: OnnxSessionsOptions): OnnxSessions {
  const { profile, budget, log } = opts;
  const max = Math.max(1, opts.maxSessions ?? 4);
  // Map order is recency order: a used entry is deleted and set again.
  const entries = new Map<string, Entry>();

  async function open(ref: ModelRef): Promise<OnnxSession> {
    if (ref.kind !== "onnx") {
      throw kianaError("MODEL_ENGINE_FAILED", `model ${ref.id} is ${ref.kind}: onnxruntime loads ONNX`, {
        model: ref.id,
      });
    }
    const info = await readOnnxInfo(ref.path);
    const decision = decideLoad({ profile, model: info, budget });
    if (!decision.ok) {
      const err = refusalError(decision);
      throw kianaError(err.code, `model ${ref.id}: ${err.message}`, { ...err.details, model: ref.id }, err);
    }
    if (decision.engine !== "onnxruntime") throw new Error("an ONNX model got a llama.cpp plan");
    const ort = await opts.loadOnnx();
    try {
      const session = await ort.InferenceSession.create(ref.path, {
        executionProviders: decision.executionProviders,
        intraOpNumThreads: decision.intraOpThreads,
        // Parallelism inside operators only: these graphs are small chains with little to overlap.
        interOpNumThreads: 1,
        graphOptimizationLevel: "all",
      });
      log?.info({ model: ref.id, providers: decision.executionProviders }, "onnx session opened");
      return { ref, info, plan: decision, ort, session };
    } catch (cause) {
      const providers = decision.executionProviders.join("+");
      const msg = `model ${ref.id} (${ref.path}): onnxruntime could not open it with ${providers}: ${describeError(cause)}`;
      throw kianaError("MODEL_ENGINE_FAILED", msg, { model: ref.id, path: ref.path, providers }, cause);
    }
  }

  async function close(path: string, entry: Entry): Promise<void> {
    const s = await entry.ready.catch(() => null);
    if (!s) return;
    await s.session.release().catch((err: unknown) => {
      log?.warn({ path, err: describeError(err) }, "onnx session release failed");
    });
  }

  function evictBeyondBound(): void {
    for (const [path, entry] of entries) {
      if (entries.size <= max) break;
      entries.delete(path);
      entry.evicted = true;
      if (entry.users === 0) void close(path, entry);
    }
  }

  async function use<T>(ref: ModelRef, fn: (s: OnnxSession) => Promise<T>): Promise<T> {
    let entry = entries.get(ref.path);
    if (entry) entries.delete(ref.path);
    else entry = { ready: open(ref), users: 0, evicted: false };
    entries.set(ref.path, entry);
    const mine = entry;
    mine.ready.catch(() => {
      // A failed open is not cached: the next request tries again (the file may have been fixed).
      if (entries.get(ref.path) === mine) entries.delete(ref.path);
    });
    evictBeyondBound();
    mine.users++;
    try {
      return await fn(await mine.ready);
    } finally {
      if (--mine.users === 0 && mine.evicted) void close(ref.path, mine);
    }
  }

  function embedRun(s: OnnxSession, inputs: readonly EmbedInput[]): Promise<EmbedOutcome> | InputProblem {
    const { info, ort, session, ref } = s;
    const input = info.inputs[0];
    const output = info.outputs[0];
    const type = input?.elemType as keyof typeof INPUT_TYPES | undefined;
    const unsupported = (why: string): InputProblem => ({
      ok: false,
      code: "unsupported_model",
      param: "model",
      message: `model ${ref.id} cannot embed: ${why}`,
    });
    if (!input || !output || info.inputs.length !== 1 || info.outputs.length !== 1)
      return unsupported("it needs exactly one input and one output");
    if (!type || !(type in INPUT_TYPES) || input.shape?.length !== 2)
      return unsupported("its input is not a [batch, width] float32, int32 or int64 tensor");
    if (output.elemType !== "float32") return unsupported("its output is not float32");
    const fixed = typeof input.shape[1] === "number" ? input.shape[1] : null;
    const width = fixed ?? (typeof inputs[0] === "string" ? 0 : (inputs[0]?.length ?? 0));
    for (const [i, row] of inputs.entries()) {
      const param = inputs.length > 1 ? `input[${i}]` : "input";
      const bad = (message: string): InputProblem => ({ ok: false, code: "invalid_input", param, message });
      if (typeof row === "string") return bad(`model ${ref.id} takes rows of numbers, not text`);
      if (row.length !== width) return bad(`every row for ${ref.id} must hold ${width} numbers`);
      if (type !== "float32" && !row.every(Number.isSafeInteger)) return bad(`${ref.id} takes integers`);
    }
    const rows = inputs as readonly (readonly number[])[];
    const flat = rows.flat();
    const data = type === "int64" ? BigInt64Array.from(flat, BigInt) : INPUT_TYPES[type].from(flat);
    return (async () => {
      let y: Ort.Tensor | undefined;
      try {
        const out = await session.run({ [input.name]: new ort.Tensor(type, data, [rows.length, width]) });
        y = out[output.name];
      } catch (cause) {
        const msg = `model ${ref.id} (${ref.path}): onnxruntime failed to run: ${describeError(cause)}`;
        throw kianaError("MODEL_ENGINE_FAILED", msg, { model: ref.id, path: ref.path }, cause);
      }
      const dims = y?.dims ?? [];
      if (!y || (dims.length !== 2 && dims.length !== 3) || dims[0] !== rows.length)
        return unsupported(`its output has shape [${dims.join(", ")}]`);
      return { ok: true, vectors: pooled(y.data as Float32Array, dims), tokens: flat.length };
    })();
  }

  return {
    use,
    embed: (ref, inputs) => use(ref, async (s) => embedRun(s, inputs)),
    paths: () => [...entries.keys()],
    async dispose() {
      const all = [...entries];
      entries.clear();
      await Promise.all(all.map(([path, e]) => close(path, e)));
    },
  };
}

/** Embeddings by kind: GGUF through llama.cpp's embedding context, ONNX through its shared session. */
export function embedWith(e: {
  llama: Pick<LlamaEngine, "acquire">;
  onnx: Pick<OnnxSessions, "embed">;
}): EmbedFn {
  return async (ref, inputs) => {
    if (ref.kind === "onnx") return e.onnx.embed(ref, inputs);
    const lease = await e.llama.acquire(ref);
    try {
      return await lease.loaded.embed(inputs);
    } finally {
      lease.release();
    }
  };
}

/** [batch, dim] rows as they are; [batch, positions, dim] averaged over positions. */
function pooled(data: Float32Array, dims: readonly number[]): number[][] {
  const [batch = 0, a = 0, b] = dims;
  const positions = b === undefined ? 1 : a;
  const dim = b ?? a;
  return Array.from({ length: batch }, (_, i) => {
    const v = new Array<number>(dim).fill(0);
    for (let p = 0; p < positions; p++)
      for (let d = 0; d < dim; d++)
        v[d] = (v[d] ?? 0) + (data[(i * positions + p) * dim + d] ?? 0) / positions;
    return v;
  });
}
