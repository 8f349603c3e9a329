// Silero VAD on onnxruntime with start/end hysteresis: speech starts after a run of confident windows
// and ends only after a stretch of quiet ones, so a breath between words does not end the utterance.
import { kianaError } from "../../errors.ts";
import type { VadEvent, VoiceActivity } from "../speech-ports.ts";
import { checkChunk, inputShape, type OnnxModel, type OnnxModule, openOnnxModel } from "./onnx-model.ts";

/** Samples per model call at 16 kHz (32 ms), the window size Silero was trained on. */
export const VAD_WINDOW_SAMPLES = 512;
const SAMPLE_RATE = 16_000;
const SAMPLES_PER_MS = 16;
/** Silero v5 sees the last 64 samples of the previous window in front of each new one. */
const V5_CONTEXT = 64;

export interface VoiceActivityOptions {
  ort: OnnxModule;
  /** silero_vad.onnx, v4 (inputs input, sr, h, c) or v5 (input, state, sr). */
  path: string;
  /** Probability at or above which a window counts as speech. Default 0.5. */
  threshold?: number;
  /** Probability below which a window counts as silence while speaking. Default threshold − 0.15. */
  negThreshold?: number;
  /** Confident speech needed before speech-start. Default 64 ms (two windows): clicks are shorter. */
  minSpeechMs?: number;
  /** Quiet needed before speech-end. Default 500 ms: pauses between words are shorter. */
  minSilenceMs?: number;
  intraOpThreads?: number;
}

interface StateIo {
  input: string;
  output: string;
  dims: number[];
  value: Float32Array;
}

function positive(name: string, v: number, max = Number.POSITIVE_INFINITY): number {
  if (!(v > 0 && v <= max)) throw new RangeError(`voice activity: ${name} must be in (0, ${max}], got ${v}`);
  return v;
}

/** Finds the recurrent state tensors by name, since v4 and v5 exports name and shape them differently. */
function describeModel(model: OnnxModel): {
  audio: string;
  sr: string | null;
  prob: string;
  states: StateIo[];
} {
  const { session, role, path } = model;
  const ins = session.inputNames;
  const outs = session.outputNames;
  const audio = ins.find((n) => n === "input") ?? ins[0];
  const sr = ins.find((n) => n === "sr") ?? null;
  const prob = outs.find((n) => n === "output") ?? outs[0];
  const stateIns = ins.filter((n) => n !== audio && n !== sr);
  const stateOuts = outs.filter((n) => n !== prob);
  const invalid = (why: string) =>
    kianaError("MODEL_FILE_INVALID", `${role}: ${path} is not a Silero VAD graph: ${why}`, { role, path });
  if (audio === undefined || prob === undefined) throw invalid("it lacks an audio input or an output");
  if (stateIns.length === 0 || stateIns.length !== stateOuts.length)
    throw invalid(`inputs [${ins.join(", ")}] and outputs [${outs.join(", ")}] carry no recurrent state`);
  const states = stateIns.map((input, i) => {
    // v4's h/c are [2, batch, 64], v5's state [2, batch, 128]; batch is 1 here.
    const dims = (inputShape(model, input) ?? []).map((d) => d ?? 1);
    if (dims.length !== 3) throw invalid(`state input ${input} has rank ${dims.length}, expected 3`);
    const output = outs.includes(`${input}n`) ? `${input}n` : (stateOuts[i] as string);
    return { input, output, dims, value: new Float32Array(dims.reduce((a, b) => a * b, 1)) };
  });
  return { audio, sr, prob, states };
}

export interface SileroVoiceActivity extends VoiceActivity {
  /** Whether the hysteresis currently holds speech. */
  readonly speaking: boolean;
}

export async function createVoiceActivity(opts: VoiceActivityOptions): Promise<SileroVoiceActivity> {
  const { ort } = opts;
  const threshold = positive("threshold", opts.threshold ?? 0.5, 1);
  const negThreshold = positive(
    "negThreshold",
    opts.negThreshold ?? Math.max(0.01, threshold - 0.15),
    threshold,
  );
  const minSpeechMs = positive("minSpeechMs", opts.minSpeechMs ?? 64);
  const minSilenceMs = positive("minSilenceMs", opts.minSilenceMs ?? 500);
  const model = await openOnnxModel(ort, "VAD model", opts.path, opts.intraOpThreads ?? 1);
  let io: ReturnType<typeof describeModel>;
  try {
    io = describeModel(model);
  } catch (err) {
    await model.session.release();
    throw err;
  }
  const withContext = io.states.some((s) => s.input === "state");
  const contextLen = withContext ? V5_CONTEXT : 0;
  const srTensor = new ort.Tensor("int64", BigInt64Array.of(BigInt(SAMPLE_RATE)), []);

  // One window being filled, plus v5's context in front of it: fixed, whatever the chunk sizes.
  const window = new Float32Array(contextLen + VAD_WINDOW_SAMPLES);
  let filled = 0;
  let windowStart = 0;
  let probability = 0;
  let speaking = false;
  let runStartMs = -1;
  let quietSinceMs = -1;
  let generation = 0;
  let disposed = false;
  let queue: Promise<unknown> = Promise.resolve();

  function clear(): void {
    window.fill(0);
    filled = 0;
    probability = 0;
    speaking = false;
    runStartMs = -1;
    quietSinceMs = -1;
    for (const s of io.states) s.value.fill(0);
  }

  async function infer(samples: Float32Array): Promise<number> {
    const feeds: Record<string, InstanceType<OnnxModule["Tensor"]>> = {
      [io.audio]: new ort.Tensor("float32", samples, [1, samples.length]),
    };
    if (io.sr) feeds[io.sr] = srTensor;
    for (const s of io.states) feeds[s.input] = new ort.Tensor("float32", s.value.slice(), s.dims);
    const out = await model.session.run(feeds);
    for (const s of io.states) {
      const next = out[s.output]?.data;
      if (next instanceof Float32Array && next.length === s.value.length) s.value.set(next);
    }
    return (out[io.prob]?.data as Float32Array | undefined)?.[0] ?? 0;
  }

  /** The hysteresis, per window; `atMs` is where the window starts in the audio. */
  function decide(p: number, atMs: number): VadEvent | null {
    const endMs = atMs + VAD_WINDOW_SAMPLES / SAMPLES_PER_MS;
    if (!speaking) {
      if (p < threshold) {
        runStartMs = -1;
        return null;
      }
      if (runStartMs < 0) runStartMs = atMs;
      if (endMs - runStartMs < minSpeechMs) return null;
      speaking = true;
      quietSinceMs = -1;
      return { type: "speech-start", atMs: runStartMs };
    }
    // Between the two thresholds nothing changes: a wavering probability neither ends nor extends speech.
    if (p >= threshold) quietSinceMs = -1;
    else if (p < negThreshold) {
      if (quietSinceMs < 0) quietSinceMs = atMs;
      if (endMs - quietSinceMs >= minSilenceMs) {
        speaking = false;
        runStartMs = -1;
        return { type: "speech-end", atMs: quietSinceMs };
      }
    }
    return null;
  }

  async function drain(windows: { samples: Float32Array; atMs: number }[], gen: number): Promise<VadEvent[]> {
    const events: VadEvent[] = [];
    for (const w of windows) {
      const p = await infer(w.samples);
      if (gen !== generation) return [];
      probability = p;
      const ev = decide(p, w.atMs);
      if (ev) events.push(ev);
    }
    return events;
  }

  clear();
  return {
    get probability() {
      return probability;
    },
    get speaking() {
      return speaking;
    },
    process(chunk) {
      if (disposed) return Promise.reject(new Error("voice activity: used after dispose()"));
      const bad = checkChunk("voice activity", chunk);
      if (bad) return Promise.reject(bad);
      // Full windows are cut now, in order, so the queue owns copies and the caller may reuse its chunk.
      const windows: { samples: Float32Array; atMs: number }[] = [];
      for (let i = 0; i < chunk.length; i++) {
        window[contextLen + filled++] = (chunk[i] ?? 0) / 32768;
        if (filled < VAD_WINDOW_SAMPLES) continue;
        windows.push({ samples: window.slice(), atMs: windowStart / SAMPLES_PER_MS });
        window.copyWithin(0, VAD_WINDOW_SAMPLES);
        windowStart += VAD_WINDOW_SAMPLES;
        filled = 0;
      }
      if (windows.length === 0) return Promise.resolve([]);
      const gen = generation;
      const result = queue.then(() => (gen === generation ? drain(windows, gen) : []));
      queue = result.catch(() => undefined);
      return result;
    },
    reset() {
      generation++;
      // The clock keeps running: events after a reset still say where they are in the whole stream.
      windowStart += filled;
      clear();
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      generation++;
      await queue;
      await model.session.release();
    },
  };
}
