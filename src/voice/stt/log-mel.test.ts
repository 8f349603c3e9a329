import { describe, expect, test } from "bun:test";
import { hzToMel, logMel, melFilters, N_FRAMES, N_MELS } from "./log-mel.ts";

describe("whisper log-mel", () => {
  test("a 1 kHz sine lights the mel bin holding 1 kHz, over the frames it lasts", () => {
    const audio = Float32Array.from(
      { length: 16000 },
      (_, i) => 0.5 * Math.sin((2 * Math.PI * 1000 * i) / 16000),
    );
    const t0 = performance.now();
    const mel = logMel(audio);
    console.log("log-mel of 1 s audio ms", (performance.now() - t0).toFixed(1));
    expect(mel.length).toBe(N_MELS * N_FRAMES);
    const column = (t: number) => Array.from({ length: N_MELS }, (_, m) => mel[m * N_FRAMES + t] ?? 0);
    const mid = column(50);
    const peak = mid.indexOf(Math.max(...mid));
    // The filter whose triangle peaks nearest 1 kHz (mel 15 on the Slaney scale).
    const filters = melFilters();
    const expected = filters.findIndex(
      (row) => (row[25] ?? 0) === Math.max(...filters.map((r) => r[25] ?? 0)),
    );
    expect(peak).toBe(expected);
    expect(hzToMel(1000)).toBe(15);
    // After the sine: the floor, 8 log10 units (2 once scaled) below the loudest bin.
    let loudest = -Infinity;
    for (const v of mel) loudest = Math.max(loudest, v);
    expect(Math.max(...column(200))).toBeCloseTo(loudest - 2, 5);
    expect(Math.max(...column(2999))).toBeCloseTo(Math.max(...column(200)), 5);
  });

  test("silence is flat and the filters cover 0–8 kHz", () => {
    const mel = logMel(new Float32Array(8000));
    expect(new Set(mel).size).toBe(1);
    const filters = melFilters();
    expect(filters).toHaveLength(80);
    expect(filters.every((row) => row.some((v) => v > 0))).toBe(true);
  });
});
