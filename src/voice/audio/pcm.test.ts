import { expect, test } from "bun:test";
import {
  dbfs,
  float32ToS16,
  isSilent,
  resample,
  s16ToFloat32,
  soundBounds,
  toMono,
  toVoicePcm,
} from "./pcm.ts";

const sine = (hz: number, rate: number, seconds: number, amp = 0.5) =>
  Float32Array.from(
    { length: Math.round(rate * seconds) },
    (_, i) => amp * Math.sin((2 * Math.PI * hz * i) / rate),
  );

/** Energy of `x` at `hz`, by correlation with a sine and a cosine. */
function energyAt(x: Float32Array, hz: number, rate: number): number {
  let s = 0;
  let c = 0;
  for (let i = 0; i < x.length; i++) {
    s += (x[i] ?? 0) * Math.sin((2 * Math.PI * hz * i) / rate);
    c += (x[i] ?? 0) * Math.cos((2 * Math.PI * hz * i) / rate);
  }
  return (2 * Math.hypot(s, c)) / x.length;
}

test("s16 ↔ float32 round trip, clipped at full scale", () => {
  const s = Int16Array.from([0, 1, -1, 32_767, -32_768, 1234]);
  expect(float32ToS16(s16ToFloat32(s))).toEqual(s);
  expect(float32ToS16(Float32Array.from([2, -2]))).toEqual(Int16Array.from([32_767, -32_768]));
});

test("stereo to mono averages the channels", () => {
  expect(toMono(Int16Array.from([100, 300, -10, 10]), 2)).toEqual(Int16Array.from([200, 0]));
});

test("22.05 → 16 kHz keeps a 1 kHz tone and removes a 9 kHz one instead of folding it to 7 kHz", () => {
  const keep = resample(sine(1000, 22_050, 0.5), 22_050, 16_000);
  expect(keep.length).toBe(8000);
  expect(energyAt(keep, 1000, 16_000)).toBeGreaterThan(0.45);
  const above = resample(sine(9000, 22_050, 0.5), 22_050, 16_000);
  // Linear interpolation would leave a 7 kHz alias of about a third of the amplitude.
  expect(energyAt(above, 7050, 16_000)).toBeLessThan(0.01);
});

test("toVoicePcm: any rate and channel count to 16 kHz mono", () => {
  const stereo44 = new Int16Array(44_100 * 2);
  expect(toVoicePcm(stereo44, 44_100, 2).length).toBe(16_000);
});

test("levels: silence, a tone, where the sound is", () => {
  const quiet = new Int16Array(1600);
  expect(dbfs(quiet)).toBe(Number.NEGATIVE_INFINITY);
  expect(isSilent(quiet)).toBe(true);
  const tone = float32ToS16(sine(440, 16_000, 0.5));
  expect(dbfs(tone)).toBeCloseTo(-9.03, 1);
  const padded = new Int16Array(16_000);
  padded.set(tone.subarray(0, 4000), 8000);
  expect(soundBounds(padded, 16_000)).toEqual({ start: 8000, end: 12_000 });
  expect(soundBounds(quiet, 16_000)).toBeNull();
});
