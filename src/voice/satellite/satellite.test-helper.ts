// Fakes at the hardware boundary for satellite tests and the voice benchmark: a microphone that
// hears silence until a WAV is "said" into it, a speaker that records what it was asked to play, an
// energy VAD and a wake detector fired by the test.
import { createFileMicrophone } from "../audio/file-microphone.ts";
import { rms, VOICE_SAMPLE_RATE } from "../audio/pcm.ts";
import type { MicEnd, Microphone, MuteFlag, PlayOptions, PlayOutcome, Speaker } from "../audio/ports.ts";
import { unlessMuted } from "../audio/ports.ts";
import type { WavAudio } from "../audio/wav.ts";
import type { VadEvent, VoiceActivity, WakeDetection, WakeDetector } from "../speech-ports.ts";

export interface ScriptedMicrophone extends Microphone {
  /** Queues a WAV (any rate, decoded and resampled by the file microphone) after what is queued. */
  say(source: string | Uint8Array | WavAudio, pad?: { startMs?: number; endMs?: number }): Promise<void>;
  /** Chunks read so far. */
  readonly chunksRead: number;
}

/** Silence, paced at `speed` × real time (Infinity: as fast as read), with speech where queued. */
export function createScriptedMicrophone(
  opts: { speed?: number; muteFlag?: MuteFlag } = {},
): ScriptedMicrophone {
  const chunkSamples = 1280;
  const chunkMs = (chunkSamples * 1000) / VOICE_SAMPLE_RATE;
  const speed = opts.speed ?? 8;
  const queue: Int16Array[] = [];
  let closed = false;
  let muted = false;
  let read = 0;
  let settle: (e: MicEnd) => void = () => {};
  const ended = new Promise<MicEnd>((r) => {
    settle = r;
  });
  async function* chunks() {
    const start = performance.now();
    while (!closed) {
      if (Number.isFinite(speed)) {
        const due = start + ((read + 1) * chunkMs) / speed - performance.now();
        await Bun.sleep(Math.max(0, due));
      } else {
        // A macrotask, not a microtask: an endless silent stream must leave room for sockets and timers.
        await new Promise((resolve) => setImmediate(resolve));
      }
      read++;
      const chunk = queue.shift() ?? new Int16Array(chunkSamples);
      yield unlessMuted(chunk, muted || (opts.muteFlag?.muted ?? false));
    }
    settle({ reason: "closed" });
  }
  return {
    sampleRate: VOICE_SAMPLE_RATE,
    chunkSamples,
    [Symbol.asyncIterator]: () => chunks(),
    mute(on) {
      muted = on;
    },
    get muted() {
      return muted;
    },
    close() {
      closed = true;
    },
    ended,
    get chunksRead() {
      return read;
    },
    async say(source, pad = {}) {
      // Quiet before and after, as in a room: recognisers listen for speech to start from silence.
      const padStartMs = pad.startMs ?? 300;
      const file = createFileMicrophone({ source, chunkSamples, padStartMs, padEndMs: pad.endMs ?? 800 });
      for await (const chunk of file) queue.push(chunk);
      const end = await file.ended;
      if (end.reason === "failed") throw new Error(end.detail);
    },
  };
}

export interface RecordingSpeaker extends Speaker {
  readonly plays: { pcm: Int16Array; opts: PlayOptions; at: number }[];
  stops: number;
}

/** Plays nothing; each play resolves after `playMs` (default 0). */
export function createRecordingSpeaker(playMs = 0): RecordingSpeaker {
  const plays: RecordingSpeaker["plays"] = [];
  const pending = new Set<(o: PlayOutcome) => void>();
  const speaker: RecordingSpeaker = {
    plays,
    stops: 0,
    play(pcm, opts = {}) {
      plays.push({ pcm, opts, at: performance.now() });
      return new Promise((resolve) => {
        pending.add(resolve);
        setTimeout(() => {
          if (pending.delete(resolve)) resolve({ ok: true });
        }, playMs);
      });
    },
    stop() {
      speaker.stops++;
      for (const resolve of pending) resolve({ ok: false, reason: "stopped" });
      pending.clear();
    },
  };
  return speaker;
}

/** Speech by loudness: starts on a loud chunk, ends after `quietMs` of quiet ones. */
export function createEnergyVad(opts: { threshold?: number; quietMs?: number } = {}): VoiceActivity {
  const threshold = opts.threshold ?? 0.01;
  const quietMs = opts.quietMs ?? 400;
  let speaking = false;
  let quiet = 0;
  let at = 0;
  let probability = 0;
  return {
    async process(chunk) {
      const events: VadEvent[] = [];
      const ms = (chunk.length * 1000) / VOICE_SAMPLE_RATE;
      probability = rms(chunk) > threshold ? 1 : 0;
      if (probability && !speaking) {
        speaking = true;
        events.push({ type: "speech-start", atMs: at });
      }
      quiet = probability ? 0 : quiet + ms;
      if (speaking && quiet >= quietMs) {
        speaking = false;
        events.push({ type: "speech-end", atMs: at });
      }
      at += ms;
      return events;
    },
    get probability() {
      return probability;
    },
    reset() {
      speaking = false;
      quiet = 0;
      at = 0;
    },
    async dispose() {},
  };
}

/**
 * Fires `fire(name)`'s word at the next chunk it is given. `window` stands for openWakeWord's
 * embedding window (16 × 96 floats) at that moment; `embeddings()` returns a copy, as the real one does.
 */
export function createFiredWakeDetector(
  names: readonly string[],
): WakeDetector & { fire(name: string): void; window: Float32Array; embeddings(): Float32Array } {
  let next: string | null = null;
  let at = 0;
  return {
    names,
    window: new Float32Array(16 * 96),
    embeddings() {
      return this.window.slice();
    },
    async process(chunk) {
      const hits: WakeDetection[] = next ? [{ name: next, score: 0.9, atMs: at }] : [];
      next = null;
      at += (chunk.length * 1000) / VOICE_SAMPLE_RATE;
      return hits;
    },
    reset() {},
    async dispose() {},
    fire(name) {
      next = name;
    },
  };
}

/** Resolves when `check` holds, polling; rejects after `timeoutMs` with `what`. */
export async function waitFor(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(5);
  }
}
