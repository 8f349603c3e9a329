// openWakeWord on onnxruntime: each 80 ms of 16 kHz audio becomes 8 mel frames, the last 76 frames one
// 96-dim speech embedding, and the last 16 embeddings one score per wake word. The embedding stream is
// offered to callers because on-device training of new wake words learns from those vectors.
import type { WakeDetection, WakeDetector } from "../speech-ports.ts";
import {
  checkChunk,
  expectSingleInput,
  type OnnxModel,
  type OnnxModule,
  openOnnxModel,
  releaseAll,
} from "./onnx-model.ts";

/** One pipeline step: 80 ms at 16 kHz. */
export const WAKE_CHUNK_SAMPLES = 1280;
export const WAKE_EMBEDDING_DIM = 96;
/** Embeddings each wake model scores at once (1.28 s of audio). */
export const WAKE_WINDOW_EMBEDDINGS = 16;
const MEL_BINS = 32;
/** Mel frames (10 ms hop) the embedding model sees: 760 ms. */
const MEL_WINDOW = 76;
/**
 * Three hops of the previous step, so the mel model's 512-sample FFT window yields exactly 8 frames
 * from 1280 new samples and the frame grid runs on without a seam between steps.
 */
const AUDIO_CONTEXT = 480;
const SAMPLES_PER_MS = 16;

export interface WakeModelSpec {
  /** Reported in detections, e.g. "hey_jarvis". */
  name: string;
  path: string;
  /** Score at or above which the word counts as heard. Default 0.5. */
  threshold?: number;
  /** After a detection the same word is not reported again for this long. Default 2000 ms. */
  refractoryMs?: number;
}

/** One step's embedding; `atMs` is the audio fed before the chunk that produced it, as in detections. */
export interface WakeEmbedding {
  embedding: Float32Array;
  atMs: number;
}

export interface WakeDetectorOptions {
  ort: OnnxModule;
  melspectrogramPath: string;
  embeddingPath: string;
  models: readonly WakeModelSpec[];
  /** onnxruntime intra-op threads per session. Default 1: a Pi's other cores serve STT and the LLM. */
  intraOpThreads?: number;
  /** Called with every new embedding, 12.5 times per second of audio; the array is the caller's to keep. */
  onEmbedding?: (e: WakeEmbedding) => void;
}

export interface OpenWakeWordDetector extends WakeDetector {
  /** Latest score per wake word; 0 until 16 embeddings have been seen since the start or a reset. */
  readonly scores: Readonly<Record<string, number>>;
  /** A copy of the embeddings held (up to 16, oldest first), flattened to [n × 96]. */
  embeddings(): Float32Array;
}

interface WakeModel {
  spec: Required<WakeModelSpec>;
  model: OnnxModel;
  input: string;
  output: string;
  /** Audio time before which this word stays quiet after its last detection. */
  quietUntilMs: number;
}

function resolveSpec(spec: WakeModelSpec): Required<WakeModelSpec> {
  const threshold = spec.threshold ?? 0.5;
  const refractoryMs = spec.refractoryMs ?? 2000;
  if (typeof spec.name !== "string" || spec.name === "")
    throw new TypeError("wake detector: every wake model needs a name");
  if (!(threshold > 0 && threshold <= 1))
    throw new RangeError(`wake detector: threshold of "${spec.name}" must be in (0, 1], got ${threshold}`);
  if (!(refractoryMs >= 0))
    throw new RangeError(`wake detector: refractoryMs of "${spec.name}" must be ≥ 0, got ${refractoryMs}`);
  return { name: spec.name, path: spec.path, threshold, refractoryMs };
}

export async function createWakeDetector(opts: WakeDetectorOptions): Promise<OpenWakeWordDetector> {
  const { ort, onEmbedding } = opts;
  const threads = opts.intraOpThreads ?? 1;
  if (!Array.isArray(opts.models) || opts.models.length === 0)
    throw new RangeError("wake detector: at least one wake model is needed");
  const specs = opts.models.map(resolveSpec);
  const names = specs.map((s) => s.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) throw new RangeError(`wake detector: wake word "${dup}" is given twice`);

  const opened: OnnxModel[] = [];
  const open = async (role: string, path: string) => {
    const m = await openOnnxModel(ort, role, path, threads);
    opened.push(m);
    return m;
  };
  let mel: { model: OnnxModel; input: string; output: string };
  let emb: { model: OnnxModel; input: string; output: string };
  const words: WakeModel[] = [];
  try {
    const melModel = await open("melspectrogram model", opts.melspectrogramPath);
    mel = { model: melModel, ...expectSingleInput(melModel, [null, null]) };
    const embModel = await open("embedding model", opts.embeddingPath);
    emb = { model: embModel, ...expectSingleInput(embModel, [null, MEL_WINDOW, MEL_BINS, 1]) };
    for (const spec of specs) {
      const model = await open(`wake model "${spec.name}"`, spec.path);
      const io = expectSingleInput(model, [null, WAKE_WINDOW_EMBEDDINGS, WAKE_EMBEDDING_DIM]);
      words.push({ spec, model, ...io, quietUntilMs: 0 });
    }
  } catch (err) {
    await releaseAll(opened);
    throw err;
  }

  // Fixed-size buffers shifted in place: memory stays the same however long the stream runs.
  const context = new Float32Array(AUDIO_CONTEXT);
  const melFrames = new Float32Array(MEL_WINDOW * MEL_BINS);
  const embWindow = new Float32Array(WAKE_WINDOW_EMBEDDINGS * WAKE_EMBEDDING_DIM);
  let embCount = 0;
  const scores: Record<string, number> = {};
  let fedSamples = 0;
  let generation = 0;
  let disposed = false;
  let queue: Promise<unknown> = Promise.resolve();

  function clear(): void {
    context.fill(0);
    // openWakeWord starts its mel buffer at 1 as well; the models were trained against that start.
    melFrames.fill(1);
    embWindow.fill(0);
    embCount = 0;
    for (const w of words) {
      w.quietUntilMs = 0;
      scores[w.spec.name] = 0;
    }
  }
  clear();

  async function run(
    m: { model: OnnxModel; input: string; output: string },
    data: Float32Array,
    dims: number[],
  ) {
    const out = await m.model.session.run({ [m.input]: new ort.Tensor("float32", data, dims) });
    const y = out[m.output];
    if (!y) throw new Error(`${m.model.role}: output ${m.output} missing`);
    return y.data as Float32Array;
  }

  async function step(audio: Float32Array, atMs: number, gen: number): Promise<WakeDetection[]> {
    const frames = await run(mel, audio, [1, audio.length]);
    if (gen !== generation) return [];
    // The transform openWakeWord applies to the mel model's output before the embedding model.
    const n = Math.min(MEL_WINDOW, Math.floor(frames.length / MEL_BINS));
    melFrames.copyWithin(0, n * MEL_BINS);
    const tail = (MEL_WINDOW - n) * MEL_BINS;
    for (let i = 0; i < n * MEL_BINS; i++) melFrames[tail + i] = (frames[i] ?? 0) / 10 + 2;

    const embedding = (await run(emb, melFrames.slice(), [1, MEL_WINDOW, MEL_BINS, 1])).slice(
      0,
      WAKE_EMBEDDING_DIM,
    );
    if (gen !== generation) return [];
    embWindow.copyWithin(0, WAKE_EMBEDDING_DIM);
    embWindow.set(embedding, (WAKE_WINDOW_EMBEDDINGS - 1) * WAKE_EMBEDDING_DIM);
    embCount = Math.min(WAKE_WINDOW_EMBEDDINGS, embCount + 1);
    onEmbedding?.({ embedding, atMs });
    // A window still holding the start-up zeros scores noise, so nothing is scored until it is full.
    if (embCount < WAKE_WINDOW_EMBEDDINGS) return [];

    const found: WakeDetection[] = [];
    const window = embWindow.slice();
    for (const w of words) {
      const score = (await run(w, window, [1, WAKE_WINDOW_EMBEDDINGS, WAKE_EMBEDDING_DIM]))[0] ?? 0;
      if (gen !== generation) return [];
      scores[w.spec.name] = score;
      if (score >= w.spec.threshold && atMs >= w.quietUntilMs) {
        w.quietUntilMs = atMs + w.spec.refractoryMs;
        found.push({ name: w.spec.name, score, atMs });
      }
    }
    return found;
  }

  return {
    names: Object.freeze([...names]),
    get scores() {
      return { ...scores };
    },
    embeddings() {
      return embWindow.slice((WAKE_WINDOW_EMBEDDINGS - embCount) * WAKE_EMBEDDING_DIM);
    },
    process(chunk) {
      if (disposed) return Promise.reject(new Error("wake detector: used after dispose()"));
      const bad = checkChunk("wake detector", chunk, WAKE_CHUNK_SAMPLES);
      if (bad) return Promise.reject(bad);
      // Copied now: callers reuse their chunk buffers, and steps wait in the queue in order.
      const audio = new Float32Array(AUDIO_CONTEXT + WAKE_CHUNK_SAMPLES);
      audio.set(context);
      // The mel model was trained on raw s16 values, not on [-1, 1] floats.
      for (let i = 0; i < WAKE_CHUNK_SAMPLES; i++) audio[AUDIO_CONTEXT + i] = chunk[i] ?? 0;
      context.set(audio.subarray(WAKE_CHUNK_SAMPLES));
      const atMs = fedSamples / SAMPLES_PER_MS;
      fedSamples += WAKE_CHUNK_SAMPLES;
      const gen = generation;
      const result = queue.then(() => (gen === generation ? step(audio, atMs, gen) : []));
      queue = result.catch(() => undefined);
      return result;
    },
    reset() {
      // Steps already queued belong to the forgotten audio: the generation tells them to do nothing.
      generation++;
      clear();
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      generation++;
      await queue;
      await releaseAll(opened);
    },
  };
}
