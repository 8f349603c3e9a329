// Microphone/speaker loopback: play a 1 kHz tone with aplay while arecord listens, then check that
// the tone stands out of the recording (Goertzel power at 1 kHz against the rest of the band).
import { readFileSync } from "node:fs";
import { type CheckResult, fail, pass, run } from "./result.ts";

export const RATE = 48_000;
export const TONE_HZ = 1000;

/** A mono 16-bit PCM WAV of a sine tone. */
export function sineWav(hz: number, seconds: number, rate = RATE, amplitude = 0.5): Uint8Array {
  const n = Math.round(seconds * rate);
  const buf = new ArrayBuffer(44 + n * 2);
  const v = new DataView(buf);
  const ascii = (at: number, s: string) => {
    for (let i = 0; i < s.length; i++) v.setUint8(at + i, s.charCodeAt(i));
  };
  ascii(0, "RIFF");
  v.setUint32(4, 36 + n * 2, true);
  ascii(8, "WAVE");
  ascii(12, "fmt ");
  v.setUint32(16, 16, true);
  v.setUint16(20, 1, true);
  v.setUint16(22, 1, true);
  v.setUint32(24, rate, true);
  v.setUint32(28, rate * 2, true);
  v.setUint16(32, 2, true);
  v.setUint16(34, 16, true);
  ascii(36, "data");
  v.setUint32(40, n * 2, true);
  for (let i = 0; i < n; i++)
    v.setInt16(44 + i * 2, Math.round(Math.sin((2 * Math.PI * hz * i) / rate) * amplitude * 32767), true);
  return new Uint8Array(buf);
}

/** Power of one frequency in a block of samples (Goertzel). */
export function goertzel(samples: Float64Array, hz: number, rate = RATE): number {
  const k = (2 * Math.cos((2 * Math.PI * hz) / rate)) as number;
  let s1 = 0;
  let s2 = 0;
  for (const x of samples) {
    const s0 = x + k * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return (s1 * s1 + s2 * s2 - k * s1 * s2) / samples.length;
}

/** Tone-to-background ratio in dB: 1 kHz against the mean of probe frequencies away from it. */
export function toneSnrDb(samples: Float64Array, hz = TONE_HZ, rate = RATE): number {
  const tone = goertzel(samples, hz, rate);
  const probes = [300, 450, 650, 1500, 2200, 3100, 4300, 5700].map((f) => goertzel(samples, f, rate));
  const noise = probes.reduce((a, b) => a + b, 0) / probes.length;
  return 10 * Math.log10((tone + 1e-12) / (noise + 1e-12));
}

/** S16LE PCM bytes (a raw arecord capture, or a WAV's data after 44 bytes) as floats. */
export function pcm16(bytes: Uint8Array, skip = 0): Float64Array {
  const v = new DataView(bytes.buffer, bytes.byteOffset + skip, bytes.byteLength - skip);
  const out = new Float64Array(Math.floor(v.byteLength / 2));
  for (let i = 0; i < out.length; i++) out[i] = v.getInt16(i * 2, true) / 32768;
  return out;
}

export interface AudioFacts {
  /** /proc/asound/cards, or null when ALSA has no cards file. */
  cards(): string | null;
}

export const hostAudio: AudioFacts = {
  cards: () => {
    try {
      return readFileSync("/proc/asound/cards", "utf8");
    } catch {
      return null;
    }
  },
};

export const MIN_SNR_DB = 15;

export async function audioCheck(facts: AudioFacts = hostAudio, dir = "/tmp"): Promise<CheckResult> {
  const cards = facts.cards();
  if (cards === null || /no soundcards/i.test(cards) || cards.trim() === "")
    return fail("audio", "no sound card (/proc/asound/cards is empty or missing)");
  for (const tool of ["aplay", "arecord"])
    if (run(["sh", "-c", `command -v ${tool}`]).code !== 0)
      return fail("audio", `${tool} not found (alsa-utils)`);
  const wav = `${dir}/kiana-hw-tone.wav`;
  const raw = `${dir}/kiana-hw-capture.raw`;
  await Bun.write(wav, sineWav(TONE_HZ, 3));
  const rec = Bun.spawn(
    ["arecord", "-q", "-t", "raw", "-f", "S16_LE", "-c", "1", "-r", String(RATE), "-d", "4", raw],
    {
      stderr: "pipe",
    },
  );
  await Bun.sleep(300);
  const play = run(["aplay", "-q", wav], 20_000);
  const recCode = await rec.exited;
  if (play.code !== 0) return fail("audio", `aplay failed: ${play.err.trim() || `exit ${play.code}`}`);
  if (recCode !== 0)
    return fail("audio", `arecord failed: ${(await new Response(rec.stderr).text()).trim()}`);
  const samples = pcm16(new Uint8Array(await Bun.file(raw).arrayBuffer()));
  // The middle second: the tone is playing there whatever the start-up delays.
  const mid = samples.subarray(Math.min(RATE, samples.length), Math.min(2 * RATE, samples.length));
  if (mid.length < RATE / 2) return fail("audio", `recording too short (${samples.length} samples)`);
  const snr = toneSnrDb(mid);
  const peak = mid.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
  const numbers = { snrDb: snr, peak, minSnrDb: MIN_SNR_DB };
  return snr >= MIN_SNR_DB
    ? pass("audio", "the 1 kHz tone played by aplay is heard by arecord", numbers)
    : fail(
        "audio",
        "the tone is not heard: check the speaker, the microphone and their mixer levels",
        numbers,
      );
}
