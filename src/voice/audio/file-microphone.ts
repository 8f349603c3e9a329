// A microphone that plays a WAV file: the test double for arecord, and a way to replay a recording
// through the satellite. Real-time pacing or as fast as the consumer reads.
import { type Clock, systemClock } from "../../platform/clock.ts";
import { toVoicePcm, VOICE_SAMPLE_RATE } from "./pcm.ts";
import { type MicEnd, type Microphone, type MuteFlag, unlessMuted } from "./ports.ts";
import { parseWav, type WavAudio } from "./wav.ts";

export interface FileMicrophoneOptions {
  /** A WAV path, WAV bytes, or decoded audio; any rate and channel count, converted to 16 kHz mono. */
  source: string | Uint8Array | WavAudio;
  /** Default 1280 (80 ms), the wake word pipeline's step. */
  chunkSamples?: number;
  /** 1 is real time, 4 four times faster; Infinity (default) yields as fast as the consumer reads. */
  speed?: number;
  /** Silence before and after the file, as a room is quiet around an utterance. Default 0. */
  padStartMs?: number;
  padEndMs?: number;
  clock?: Clock;
  /** The speaker's flag: chunks read while it is raised hold silence. */
  muteFlag?: MuteFlag;
}

async function loadSource(source: FileMicrophoneOptions["source"]): Promise<WavAudio | string> {
  if (typeof source === "object" && "samples" in source) return source;
  let bytes: Uint8Array;
  if (typeof source === "string") {
    try {
      bytes = await Bun.file(source).bytes();
    } catch (err) {
      return `cannot read ${source}: ${err instanceof Error ? err.message : String(err)}`;
    }
  } else {
    bytes = source;
  }
  const parsed = parseWav(bytes);
  return parsed.ok ? parsed.wav : parsed.reason;
}

export function createFileMicrophone(opts: FileMicrophoneOptions): Microphone {
  const chunkSamples = opts.chunkSamples ?? 1280;
  const speed = opts.speed ?? Number.POSITIVE_INFINITY;
  const clock = opts.clock ?? systemClock;
  if (!Number.isInteger(chunkSamples) || chunkSamples < 1) throw new RangeError("chunkSamples must be ≥ 1");
  if (!(speed > 0)) throw new RangeError("speed must be positive");
  const chunkMs = (chunkSamples * 1000) / VOICE_SAMPLE_RATE;
  let mutedByUser = false;
  let closed = false;
  let iterated = false;
  let wake: (() => void) | null = null;
  let settle: (end: MicEnd) => void = () => {};
  const ended = new Promise<MicEnd>((resolve) => {
    settle = resolve;
  });

  /** Resolves at the deadline or as soon as the microphone is closed. */
  function waitUntil(at: number): Promise<void> {
    const ms = at - clock.monotonic();
    if (ms <= 0 || closed) return Promise.resolve();
    return new Promise((resolve) => {
      const cancel = clock.setTimeout(() => {
        wake = null;
        resolve();
      }, ms);
      wake = () => {
        cancel();
        resolve();
      };
    });
  }

  async function* chunks(): AsyncGenerator<Int16Array> {
    const loaded = await loadSource(opts.source);
    if (typeof loaded === "string") {
      settle({ reason: "failed", detail: loaded });
      return;
    }
    const speech = toVoicePcm(loaded.samples, loaded.sampleRate, loaded.channels);
    const pad = (ms: number | undefined) => Math.round(((ms ?? 0) * VOICE_SAMPLE_RATE) / 1000);
    const lead = pad(opts.padStartMs);
    const total = lead + speech.length + pad(opts.padEndMs);
    const start = clock.monotonic();
    for (let i = 0; i * chunkSamples < total; i++) {
      if (Number.isFinite(speed)) await waitUntil(start + ((i + 1) * chunkMs) / speed);
      if (closed) break;
      // The last chunk is filled out with silence: consumers count on whole chunks.
      const chunk = new Int16Array(chunkSamples);
      const from = i * chunkSamples - lead;
      for (let k = 0; k < chunkSamples; k++) {
        const at = from + k;
        if (at >= 0 && at < speech.length) chunk[k] = speech[at] ?? 0;
      }
      yield unlessMuted(chunk, mutedByUser || (opts.muteFlag?.muted ?? false));
    }
    settle(closed ? { reason: "closed" } : { reason: "ended" });
  }

  return {
    sampleRate: VOICE_SAMPLE_RATE,
    chunkSamples,
    [Symbol.asyncIterator]() {
      if (iterated) throw new Error("a microphone has one consumer");
      iterated = true;
      return chunks();
    },
    mute(on) {
      mutedByUser = on;
    },
    get muted() {
      return mutedByUser || (opts.muteFlag?.muted ?? false);
    },
    close() {
      closed = true;
      wake?.();
      if (!iterated) settle({ reason: "closed" });
    },
    ended,
  };
}
