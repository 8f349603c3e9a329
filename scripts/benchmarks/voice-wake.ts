// Wake word and VAD benchmark: CPU seconds per second of audio (real-time factor) of the openWakeWord
// pipeline and Silero VAD, alone and together, fed in 80 ms chunks as a microphone would.
// Usage: bun scripts/benchmarks/voice-wake.ts [--seconds 60] [--threads 1]
import { parseArgs } from "node:util";
import { chunksOf, createSpeaker, owwModel, padded } from "../../src/voice/wake/espeak.test-helper.ts";
import type { OnnxModule } from "../../src/voice/wake/onnx-model.ts";
import {
  createWakeDetector,
  WAKE_CHUNK_SAMPLES,
  type WakeModelSpec,
} from "../../src/voice/wake/open-wake-word.ts";
import { createVoiceActivity } from "../../src/voice/wake/silero-vad.ts";

export interface WakeVadModels {
  melspectrogram: string;
  embedding: string;
  wake: WakeModelSpec[];
  vad: string;
}

export interface StageCost {
  stage: "wake" | "vad" | "wake+vad";
  audioS: number;
  /** User + system CPU seconds of the whole process while the stage ran (onnxruntime threads included). */
  cpuS: number;
  wallS: number;
  /** cpuS / audioS: 0.05 means 5 % of one core keeps up with the microphone. */
  rtf: number;
  wakeDetections: number;
  vadEvents: number;
}

export interface MeasureWakeVadOptions {
  ort: OnnxModule;
  /** 16 kHz mono s16. */
  audio: Int16Array;
  models: WakeVadModels;
  intraOpThreads?: number;
}

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** Runs the audio through wake, VAD, then both; session start-up is left out of the figures. */
export async function measureWakeVad(opts: MeasureWakeVadOptions): Promise<StageCost[]> {
  const { ort, audio, models } = opts;
  const threads = opts.intraOpThreads ?? 1;
  const chunks = [...chunksOf(audio, WAKE_CHUNK_SAMPLES)];
  const audioS = (chunks.length * WAKE_CHUNK_SAMPLES) / 16_000;
  const wake = await createWakeDetector({
    ort,
    melspectrogramPath: models.melspectrogram,
    embeddingPath: models.embedding,
    models: models.wake,
    intraOpThreads: threads,
  });
  const vad = await createVoiceActivity({ ort, path: models.vad, intraOpThreads: threads });
  try {
    // One untimed pass over a few chunks, so first-run allocations inside onnxruntime are not counted.
    for (const c of chunks.slice(0, 20)) {
      await wake.process(c);
      await vad.process(c);
    }
    const stage = async (name: StageCost["stage"], useWake: boolean, useVad: boolean): Promise<StageCost> => {
      wake.reset();
      vad.reset();
      let wakeDetections = 0;
      let vadEvents = 0;
      const cpu0 = cpuSeconds();
      const t0 = performance.now();
      for (const c of chunks) {
        if (useWake) wakeDetections += (await wake.process(c)).length;
        if (useVad) vadEvents += (await vad.process(c)).length;
      }
      const wallS = (performance.now() - t0) / 1000;
      const cpuS = cpuSeconds() - cpu0;
      return { stage: name, audioS, cpuS, wallS, rtf: cpuS / audioS, wakeDetections, vadEvents };
    };
    return [
      await stage("wake", true, false),
      await stage("vad", false, true),
      await stage("wake+vad", true, true),
    ];
  } finally {
    await wake.dispose();
    await vad.dispose();
  }
}

const PHRASES = [
  "hey jarvis",
  "what time is it",
  "turn on the kitchen light",
  "hey jarvis",
  "set a timer for five minutes",
  "hello there",
  "play some music in the living room",
];
const VOICES = ["en-us", "en-gb", "en-us+f3", "en+m3"];

/** At least `seconds` of espeak-ng phrases, each with 1–2 s of silence after it, like a quiet room. */
export function benchAudio(seconds: number): { audio: Int16Array; wakeWords: number } {
  const speaker = createSpeaker();
  const parts: Int16Array[] = [];
  let total = 0;
  let wakeWords = 0;
  try {
    for (let i = 0; total < seconds * 16_000; i++) {
      const text = PHRASES[i % PHRASES.length] ?? "hello";
      const voice = VOICES[i % VOICES.length] ?? "en-us";
      const clip = padded(speaker.say({ text, voice, speed: 130 + (i % 5) * 10 }), 0, 1000 + (i % 3) * 500);
      if (text === "hey jarvis") wakeWords++;
      parts.push(clip);
      total += clip.length;
    }
  } finally {
    speaker.close();
  }
  const audio = new Int16Array(total);
  let at = 0;
  for (const p of parts) {
    audio.set(p, at);
    at += p.length;
  }
  return { audio, wakeWords };
}

/** The non-commercial openWakeWord models of the dev dependency: benchmark use only. */
export function devModels(): WakeVadModels {
  return {
    melspectrogram: owwModel("melspectrogram.onnx"),
    embedding: owwModel("embedding_model.onnx"),
    wake: [{ name: "hey_jarvis", path: owwModel("hey_jarvis_v0.1.onnx") }],
    vad: owwModel("silero_vad.onnx"),
  };
}

export function formatCosts(costs: readonly StageCost[]): string {
  const rows = [
    ["stage", "audio s", "cpu s", "wall s", "RTF (cpu/audio)", "ratio to real time", "wake", "vad ev"],
  ];
  for (const c of costs)
    rows.push([
      c.stage,
      c.audioS.toFixed(1),
      c.cpuS.toFixed(2),
      c.wallS.toFixed(2),
      c.rtf.toFixed(4),
      `${(1 / c.rtf).toFixed(1)}× faster`,
      String(c.wakeDetections),
      String(c.vadEvents),
    ]);
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ")).join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: { seconds: { type: "string", default: "60" }, threads: { type: "string", default: "1" } },
  });
  const seconds = Math.max(1, Number(values.seconds));
  const ort = (await import("onnxruntime-node")) as OnnxModule;
  const { audio, wakeWords } = benchAudio(seconds);
  const costs = await measureWakeVad({
    ort,
    audio,
    models: devModels(),
    intraOpThreads: Number(values.threads),
  });
  console.log(
    `${(audio.length / 16_000).toFixed(1)} s of espeak-ng speech and silence, ${wakeWords} × "hey jarvis"`,
  );
  console.log(formatCosts(costs));
}
