// What the voice pipelines need from audio hardware: a microphone that yields 16 kHz chunks and a
// speaker that plays PCM, plus the mute flag that keeps the satellite from hearing itself.

/** Why a microphone stopped yielding chunks. */
export type MicEnd =
  | { reason: "closed" }
  /** A file or test source ran out. */
  | { reason: "ended" }
  /** The device or file could not be read; `detail` says why (arecord's stderr, a WAV refusal). */
  | { reason: "failed"; detail: string };

/**
 * 16 kHz mono s16 chunks (80 ms, 1280 samples, unless configured otherwise), for one consumer.
 * Iteration ends when the source ends, fails or is closed; `ended` says which.
 */
export interface Microphone extends AsyncIterable<Int16Array> {
  readonly sampleRate: number;
  readonly chunkSamples: number;
  /**
   * While muted, chunks keep coming at the same pace but hold digital silence, so the consumers'
   * sense of time keeps running.
   */
  mute(on: boolean): void;
  readonly muted: boolean;
  close(): void;
  readonly ended: Promise<MicEnd>;
}

export type PlayOutcome = { ok: true } | { ok: false; reason: string };

export interface PlayOptions {
  /** Default 16000. */
  sampleRate?: number;
  /** Default 1. */
  channels?: 1 | 2;
}

/** Plays s16 PCM; calls queue and play one after another. Failures are outcomes, never throws. */
export interface Speaker {
  play(pcm: Int16Array, opts?: PlayOptions): Promise<PlayOutcome>;
  /** Stops what is playing and drops the queue; their promises resolve with ok: false. */
  stop(): void;
}

/**
 * Raised by the speaker while it plays (and a short tail after, for the room's echo); the microphone,
 * wake detector and VAD read it. Holds are counted so that overlapping sounds keep it raised.
 */
export interface MuteFlag {
  readonly muted: boolean;
  /** Raises the flag until the returned function is called (calling it twice is harmless). */
  hold(): () => void;
}

export function createMuteFlag(): MuteFlag {
  let holds = 0;
  return {
    get muted() {
      return holds > 0;
    },
    hold() {
      holds++;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        holds--;
      };
    },
  };
}

/** The chunk itself, or silence of the same length when muted: what a muted consumer hears. */
export function unlessMuted(chunk: Int16Array, muted: boolean): Int16Array {
  return muted ? new Int16Array(chunk.length) : chunk;
}
