// Shared fixtures for the Wyoming tests: one sample of every event type, PCM audio, a seeded RNG
// and a reader that turns decoded events into awaitable values.
import { type EventType, wyomingEvent } from "./events.ts";
import { createFrameDecoder, type Decoded, type WyomingEvent } from "./framing.ts";
import type { Info } from "./info.ts";

export const MIC_FORMAT = { rate: 16000, width: 2, channels: 1 } as const;

/** `samples` of a 440 Hz tone as 16-bit little-endian mono PCM, so corruption is visible. */
export function pcm16(samples: number, offset = 0): Uint8Array {
  const out = new Uint8Array(samples * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < samples; i++) {
    view.setInt16(i * 2, Math.round(8000 * Math.sin((2 * Math.PI * 440 * (i + offset)) / 16000)), true);
  }
  return out;
}

export const SATELLITE_INFO: Info = {
  asr: [
    {
      name: "pocketsphinx",
      attribution: { name: "CMU", url: "https://cmusphinx.github.io" },
      installed: true,
      description: "grammar from the intents",
      version: "5.0",
      models: [
        {
          name: "en-us",
          attribution: { name: "CMU", url: "https://cmusphinx.github.io" },
          installed: true,
          languages: ["en"],
        },
      ],
    },
  ],
  tts: [],
  handle: [],
  intent: [],
  wake: [],
  mic: [],
  snd: [],
  satellite: {
    name: "kitchen",
    attribution: { name: "kiana", url: "https://example.invalid/kiana" },
    installed: true,
    description: "kiana satellite",
    version: "0.1.0",
    area: "Kitchen",
    has_vad: true,
    active_wake_words: ["hey_kiana"],
    max_active_wake_words: 1,
    supports_trigger: true,
  },
};

/** One valid event of every known type. */
export function sampleEvents(): WyomingEvent[] {
  const samples: { [K in EventType]: WyomingEvent } = {
    describe: wyomingEvent("describe", {}),
    info: wyomingEvent("info", SATELLITE_INFO),
    "run-satellite": wyomingEvent("run-satellite", {}),
    "pause-satellite": wyomingEvent("pause-satellite", {}),
    "satellite-connected": wyomingEvent("satellite-connected", {}),
    "satellite-disconnected": wyomingEvent("satellite-disconnected", {}),
    "streaming-started": wyomingEvent("streaming-started", {}),
    "streaming-stopped": wyomingEvent("streaming-stopped", {}),
    "run-pipeline": wyomingEvent("run-pipeline", {
      start_stage: "wake",
      end_stage: "tts",
      wake_word_names: ["hey_kiana"],
      restart_on_end: false,
    }),
    detect: wyomingEvent("detect", { names: ["hey_kiana"] }),
    detection: wyomingEvent("detection", { name: "hey_kiana", timestamp: 1280 }),
    "not-detected": wyomingEvent("not-detected", {}),
    transcribe: wyomingEvent("transcribe", { language: "en" }),
    transcript: wyomingEvent("transcript", { text: "Wie spät ist es? ☕", language: "de" }),
    synthesize: wyomingEvent("synthesize", { text: "It is ten past four.", voice: { name: "en-us" } }),
    "audio-start": wyomingEvent("audio-start", { ...MIC_FORMAT, timestamp: 0 }),
    "audio-chunk": wyomingEvent("audio-chunk", { ...MIC_FORMAT, timestamp: 20 }, pcm16(320)),
    "audio-stop": wyomingEvent("audio-stop", { timestamp: 400 }),
    "voice-started": wyomingEvent("voice-started", { timestamp: 100 }),
    "voice-stopped": wyomingEvent("voice-stopped", { timestamp: 900 }),
    played: wyomingEvent("played", {}),
    ping: wyomingEvent("ping", { text: "42" }),
    pong: wyomingEvent("pong", { text: "42" }),
    error: wyomingEvent("error", { text: "no speech", code: "stt-empty" }),
    "timer-started": wyomingEvent("timer-started", {
      id: "t1",
      total_seconds: 330,
      name: "tea",
      start_minutes: 5,
      start_seconds: 30,
      command: { text: "turn off the kettle", language: "en" },
    }),
    "timer-updated": wyomingEvent("timer-updated", { id: "t1", is_active: false, total_seconds: 200 }),
    "timer-cancelled": wyomingEvent("timer-cancelled", { id: "t1" }),
    "timer-finished": wyomingEvent("timer-finished", { id: "t1" }),
  };
  return Object.values(samples);
}

/** mulberry32: small, seeded, good enough to pick mutations reproducibly. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Decodes bytes as they arrive and hands out results one at a time, with a deadline. */
export function createDecodedReader() {
  const decoder = createFrameDecoder();
  const ready: Decoded[] = [];
  const waiting: Array<(d: Decoded) => void> = [];
  const deliver = (d: Decoded) => {
    const w = waiting.shift();
    if (w) w(d);
    else ready.push(d);
  };
  return {
    push(chunk: Uint8Array) {
      for (const d of decoder.push(chunk)) deliver(d);
    },
    next(timeoutMs = 2000): Promise<Decoded> {
      const d = ready.shift();
      if (d) return Promise.resolve(d);
      return new Promise((resolve, reject) => {
        const waiter = (value: Decoded) => {
          clearTimeout(timer);
          resolve(value);
        };
        const timer = setTimeout(() => {
          waiting.splice(waiting.indexOf(waiter), 1);
          reject(new Error(`no frame within ${timeoutMs} ms`));
        }, timeoutMs);
        waiting.push(waiter);
      });
    },
    pending: () => ready.length,
  };
}
