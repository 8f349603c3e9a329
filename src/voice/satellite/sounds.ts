// The satellite's feedback sounds, synthesised rather than shipped as WAV files: a rising chirp when
// it wakes, a falling one when it is done, and a ring when a timer finishes.
import { VOICE_SAMPLE_RATE } from "../audio/pcm.ts";

export interface SatelliteSounds {
  awake: Int16Array | null;
  done: Int16Array | null;
  timer: Int16Array | null;
}

/** Tones back to back, each faded in and out over 5 ms so the speaker does not click. */
function tones(parts: readonly { hz: number; ms: number }[], level = 0.3): Int16Array {
  const lengths = parts.map((p) => Math.round((p.ms * VOICE_SAMPLE_RATE) / 1000));
  const out = new Int16Array(lengths.reduce((a, b) => a + b, 0));
  const fade = Math.round(0.005 * VOICE_SAMPLE_RATE);
  let at = 0;
  parts.forEach((part, index) => {
    const n = lengths[index] ?? 0;
    for (let i = 0; i < n; i++) {
      const envelope = Math.min(1, i / fade, (n - i) / fade);
      const v = part.hz > 0 ? Math.sin((2 * Math.PI * part.hz * i) / VOICE_SAMPLE_RATE) : 0;
      out[at + i] = Math.round(v * envelope * level * 32767);
    }
    at += n;
  });
  return out;
}

export function defaultSounds(): SatelliteSounds {
  return {
    awake: tones([
      { hz: 660, ms: 70 },
      { hz: 880, ms: 90 },
    ]),
    done: tones([
      { hz: 880, ms: 70 },
      { hz: 660, ms: 90 },
    ]),
    timer: tones([
      { hz: 988, ms: 150 },
      { hz: 0, ms: 100 },
      { hz: 988, ms: 150 },
      { hz: 0, ms: 100 },
      { hz: 988, ms: 150 },
    ]),
  };
}

/** For tests and headless runs: every cue is silent and costs no playback time. */
export const NO_SOUNDS: SatelliteSounds = { awake: null, done: null, timer: null };
