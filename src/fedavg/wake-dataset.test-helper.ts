// The FedAvg test and benchmark data set, built rather than downloaded: espeak-ng says "hey jarvis"
// and near-miss phrases in many voices, speeds and pitches; the openWakeWord melspectrogram and
// embedding models (dev dependency, non-commercial: tests only) turn each clip into the 16 × 96
// embedding window a wake detection would see. Five households each mostly hear their own voices,
// so the split is non-IID the way real homes are. Windows are cached on disk: ONNX is the slow part.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toVoicePcm } from "../voice/audio/pcm.ts";
import { parseWav } from "../voice/audio/wav.ts";
import { chunksOf, owwModel, padded } from "../voice/wake/espeak.test-helper.ts";
import { createWakeDetector, WAKE_EMBEDDING_DIM, WAKE_WINDOW_EMBEDDINGS } from "../voice/wake/index.ts";
import { createRng } from "./rng.ts";

export const WINDOW_FLOATS = WAKE_WINDOW_EMBEDDINGS * WAKE_EMBEDDING_DIM;

/** One clip's embedding window with its label and where it came from. */
export interface WakeExample {
  window: Float32Array;
  label: 0 | 1;
  /** 0..4 for a household's own data, -1 for the shared held-out test set. */
  household: number;
  voice: string;
  text: string;
}

const VOICES = [
  "en-us",
  "en-gb",
  "en-gb-scotland",
  "en-gb-x-rp",
  "en-029",
  "en-us-nyc",
  "en-gb-x-gbclan",
  "en-gb-x-gbcwmd",
  "en-us+f3",
  "en-gb+f2",
] as const;
const WAKE = "hey jarvis";
// Near misses make the verifier's job real: a bag of "hey"-phrases is not separable by loudness alone.
const NEGATIVES = [
  "hey travis",
  "hey marvin",
  "jarvis",
  "hey there",
  "hey charlie",
  "harvest",
  "turn on the light",
  "what time is it",
  "hey service",
  "play some jazz",
  "hey jar",
  "a jar of peas",
];
const SPEEDS = [120, 145, 170, 195];
const PITCHES = [30, 50, 70];
export const HOUSEHOLDS = 5;

export interface DatasetOptions {
  /** Clips per household (half wake word). Default 64. */
  perHousehold?: number;
  /** Clips in the shared test set. Default 120. */
  testClips?: number;
  /** Share of a household's clips spoken by another household's voices. Default 0.15. */
  foreignShare?: number;
  seed?: number;
  cacheDir?: string;
}

interface ClipPlan {
  text: string;
  label: 0 | 1;
  voice: string;
  speed: number;
  pitch: number;
  household: number;
}

function plan(opts: Required<DatasetOptions>): ClipPlan[] {
  const rng = createRng(opts.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng.next() * xs.length)] as T;
  const clips: ClipPlan[] = [];
  const clip = (household: number, label: 0 | 1, voice: string): ClipPlan => ({
    text: label === 1 ? WAKE : pick(NEGATIVES),
    label,
    voice,
    speed: pick(SPEEDS),
    pitch: pick(PITCHES),
    household,
  });
  for (let h = 0; h < HOUSEHOLDS; h++) {
    const own = [VOICES[2 * h] as string, VOICES[2 * h + 1] as string];
    for (let i = 0; i < opts.perHousehold; i++) {
      const voice = rng.next() < opts.foreignShare ? pick(VOICES) : pick(own);
      // Households differ in how often the wake word is really meant, too.
      const positiveShare = 0.3 + 0.1 * h;
      clips.push(clip(h, rng.next() < positiveShare ? 1 : 0, voice));
    }
  }
  for (let i = 0; i < opts.testClips; i++) clips.push(clip(-1, i % 2 === 0 ? 1 : 0, pick(VOICES)));
  return clips;
}

function say(c: ClipPlan): Int16Array {
  const args = ["-v", c.voice, "-s", String(c.speed), "-p", String(c.pitch), "--stdout", c.text];
  const proc = Bun.spawnSync(["espeak-ng", ...args], { stdout: "pipe", stderr: "pipe" });
  if (proc.exitCode !== 0) throw new Error(`espeak-ng ${args.join(" ")}: ${proc.stderr.toString()}`);
  const parsed = parseWav(new Uint8Array(proc.stdout));
  if (!parsed.ok) throw new Error(`espeak-ng wrote an unreadable WAV: ${parsed.reason}`);
  return toVoicePcm(parsed.wav.samples, parsed.wav.sampleRate, parsed.wav.channels);
}

/** Runs the clips through the embedding pipeline; the window is taken 240 ms after the speech ends. */
async function embed(clips: ClipPlan[]): Promise<Float32Array[]> {
  const ort = await import("onnxruntime-node");
  const detector = await createWakeDetector({
    ort,
    melspectrogramPath: owwModel("melspectrogram.onnx"),
    embeddingPath: owwModel("embedding_model.onnx"),
    models: [{ name: "hey_jarvis", path: owwModel("hey_jarvis_v0.1.onnx") }],
  });
  const out: Float32Array[] = [];
  try {
    for (const c of clips) {
      detector.reset();
      // Light noise (seeded in `padded`) so silence is not digital zero, as no real room is.
      const pcm = padded(say(c), 1300, 240, 40);
      for (const chunk of chunksOf(pcm, 1280)) await detector.process(chunk);
      const w = detector.embeddings();
      if (w.length !== WINDOW_FLOATS) throw new Error(`clip too short for a full window: ${w.length}`);
      out.push(w);
    }
  } finally {
    await detector.dispose();
  }
  return out;
}

/** Builds (or reads from the cache) the data set; deterministic for the options. */
export async function buildWakeDataset(options: DatasetOptions = {}): Promise<WakeExample[]> {
  const opts: Required<DatasetOptions> = {
    perHousehold: options.perHousehold ?? 64,
    testClips: options.testClips ?? 120,
    foreignShare: options.foreignShare ?? 0.15,
    seed: options.seed ?? 7,
    cacheDir: options.cacheDir ?? join(tmpdir(), "kiana-fedavg-cache"),
  };
  const clips = plan(opts);
  // The key covers the plan and the model files, so a changed phrase list or model rebuilds.
  const key = createHash("sha256")
    .update(JSON.stringify({ v: 1, clips }))
    .update(readFileSync(owwModel("embedding_model.onnx")))
    .digest("hex")
    .slice(0, 16);
  const file = join(opts.cacheDir, `wake-${key}.f32`);
  let flat: Float32Array;
  if (existsSync(file)) {
    const bytes = readFileSync(file);
    flat = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  } else {
    const windows = await embed(clips);
    flat = new Float32Array(clips.length * WINDOW_FLOATS);
    windows.forEach((w, i) => {
      flat.set(w, i * WINDOW_FLOATS);
    });
    mkdirSync(opts.cacheDir, { recursive: true });
    // Written aside and renamed, so a run killed midway never leaves a short cache file behind.
    writeFileSync(`${file}.tmp${process.pid}`, new Uint8Array(flat.buffer));
    renameSync(`${file}.tmp${process.pid}`, file);
  }
  if (flat.length !== clips.length * WINDOW_FLOATS) throw new Error(`cache ${file} has the wrong size`);
  return clips.map((c, i) => ({
    window: flat.slice(i * WINDOW_FLOATS, (i + 1) * WINDOW_FLOATS),
    label: c.label,
    household: c.household,
    voice: c.voice,
    text: c.text,
  }));
}
