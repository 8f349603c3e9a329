import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeWav, parseWav } from "./wav.ts";

const ramp = (n: number) => Int16Array.from({ length: n }, (_, i) => (i * 97) % 32_000);

describe("round trips", () => {
  test.each([1, 2] as const)("%i channel(s): encode → parse gives the same samples", (channels) => {
    const samples = ramp(800 * channels);
    const parsed = parseWav(encodeWav({ sampleRate: 22_050, channels, samples }));
    expect(parsed).toEqual({ ok: true, wav: { sampleRate: 22_050, channels, samples } });
  });

  test("espeak-ng's streamed WAV (placeholder sizes) and sox's files are read", () => {
    const dir = mkdtempSync(join(tmpdir(), "kiana-wav-"));
    try {
      const streamed = spawnSync("espeak-ng", ["--stdout", "hello there"], { maxBuffer: 1 << 24 });
      expect(streamed.status).toBe(0);
      const a = parseWav(new Uint8Array(streamed.stdout));
      expect(a.ok && a.wav.sampleRate).toBe(22_050);
      expect(a.ok && a.wav.samples.length).toBeGreaterThan(10_000);
      const file = join(dir, "s.wav");
      const sox = spawnSync("sox", [
        "-n",
        "-r",
        "16000",
        "-c",
        "2",
        "-b",
        "16",
        file,
        "synth",
        "0.1",
        "sine",
        "440",
      ]);
      expect(sox.status).toBe(0);
      const b = parseWav(readFileSync(file));
      expect(b.ok && [b.wav.sampleRate, b.wav.channels, b.wav.samples.length]).toEqual([16_000, 2, 3200]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("refusals name what is wrong", () => {
  const good = encodeWav({ sampleRate: 16_000, channels: 1, samples: ramp(100) });
  const edited = (at: number, put: (v: DataView) => void) => {
    const copy = good.slice();
    put(new DataView(copy.buffer));
    return copy.subarray(0, at);
  };
  test.each([
    ["empty", new Uint8Array(0), "too short"],
    ["not RIFF", new TextEncoder().encode("OggS0000WAVEfmt "), "not a RIFF/WAVE"],
    ["truncated data", good.subarray(0, 100), "RIFF size says"],
    ["8-bit", edited(good.length, (v) => v.setUint16(34, 8, true)), "8-bit"],
    ["float", edited(good.length, (v) => v.setUint16(20, 3, true)), "not PCM"],
    ["6 channels", edited(good.length, (v) => v.setUint16(22, 6, true)), "6 channels"],
    ["byte rate off", edited(good.length, (v) => v.setUint32(28, 1, true)), "byte rate"],
    ["odd data size", edited(good.length, (v) => v.setUint32(40, 3, true)), "whole number"],
  ])("%s", (_, bytes, reason) => {
    const r = parseWav(bytes);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toContain(reason);
  });

  test("10 000 random mutations never throw", () => {
    let seed = 7;
    const rand = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    let refused = 0;
    for (let i = 0; i < 10_000; i++) {
      const m = good.slice(0, Math.floor(rand() * (good.length + 1)));
      for (let k = 0; k < 3; k++) if (m.length) m[Math.floor(rand() * m.length)] = Math.floor(rand() * 256);
      if (!parseWav(m).ok) refused++;
    }
    expect(refused).toBeGreaterThan(5000);
  });
});
