// The pure parts of the board checks (tone detection, throttle flags, llama-bench output, verdicts),
// and that every check fails clearly, naming what is missing, off a board.
import { describe, expect, test } from "bun:test";
import { compareAccelerators, expectedAccelerators } from "./accelerator.ts";
import { audioCheck, pcm16, RATE, sineWav, toneSnrDb } from "./audio.ts";
import { llmCheck, parseLlamaBench, streamRate } from "./llm.ts";
import { mountSourceOf, sdVerdict } from "./sdcard.ts";
import { parseThrottled, thermalCheck, thermalVerdict } from "./thermal.ts";

describe("audio loopback", () => {
  test("a recorded 1 kHz tone stands out; silence and another tone do not", () => {
    const tone = pcm16(sineWav(1000, 1), 44);
    expect(tone.length).toBe(RATE);
    expect(toneSnrDb(tone)).toBeGreaterThan(40);
    const other = pcm16(sineWav(2200, 1), 44);
    expect(toneSnrDb(other)).toBeLessThan(0);
    // Quiet noise only: no tone.
    let seed = 1;
    const noise = Float64Array.from({ length: RATE }, () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return (seed / 2 ** 31 - 0.5) * 0.01;
    });
    expect(toneSnrDb(noise)).toBeLessThan(10);
  });

  test("without a sound card the check fails and says so", async () => {
    const r = await audioCheck({ cards: () => null });
    expect(r.ok).toBe(false);
    expect(r.detail).toContain("no sound card");
    expect((await audioCheck({ cards: () => "--- no soundcards ---\n" })).ok).toBe(false);
  });
});

describe("accelerator detection", () => {
  const doctor = (cuda: boolean, npus: string[] = []) => ({
    profile: {
      board: { model: "x" },
      accelerators: {
        cuda: cuda ? { devices: ["/dev/nvgpu/igpu0"] } : null,
        npus: npus.map((kind) => ({ kind })),
      },
    },
  });

  test("a Jetson must report CUDA; a Pi with a Hailo HAT must report the NPU", () => {
    const jetson = expectedAccelerators({ model: "NVIDIA Jetson Orin Nano", jetsonRelease: true, dev: [] });
    expect(compareAccelerators(jetson, doctor(true))).toEqual([]);
    expect(compareAccelerators(jetson, doctor(false))[0]).toContain("CUDA expected present");
    const pi = expectedAccelerators({
      model: "Raspberry Pi 5 Model B Rev 1.0",
      jetsonRelease: false,
      dev: ["hailo0"],
    });
    expect(pi).toEqual({ cuda: false, npus: ["hailo"] });
    expect(compareAccelerators(pi, doctor(false))[0]).toContain("NPUs expected [hailo]");
    expect(compareAccelerators(pi, doctor(false, ["hailo"]))).toEqual([]);
  });
});

describe("LLM speed", () => {
  test("llama-bench's token-generation row is the reference", () => {
    const out = JSON.stringify([
      { n_prompt: 512, n_gen: 0, avg_ts: 120.5 },
      { n_prompt: 0, n_gen: 64, avg_ts: 7.25 },
    ]);
    expect(parseLlamaBench(out)).toBe(7.25);
    expect(parseLlamaBench("not json")).toBeNull();
  });

  test("kiana's rate counts tokens after the first, so prompt time is left out", () => {
    expect(streamRate([0, 5000, 5100, 5200, 5300])).toBeCloseTo(4 / 5.3);
    expect(streamRate([1000, 1100, 1200])).toBeCloseTo(10);
    expect(streamRate([1, 2])).toBeNull();
  });

  test("without a model the check fails and says what to pass", async () => {
    const r = await llmCheck({});
    expect(r.ok).toBe(false);
    expect(r.detail).toContain("--model");
  });
});

describe("SD card and thermal", () => {
  test("the data directory's mount is found from mountinfo (longest mount point wins)", () => {
    const info = [
      "22 1 179:2 / / rw,noatime shared:1 - ext4 /dev/mmcblk0p2 rw",
      "30 22 179:4 / /var/lib/kiana rw,noatime shared:5 - ext4 /dev/mmcblk0p4 rw",
    ].join("\n");
    expect(mountSourceOf("/var/lib/kiana", info)?.source).toBe("/dev/mmcblk0p4");
    expect(mountSourceOf("/var/lib/kianax", info)?.source).toBe("/dev/mmcblk0p2");
    expect(sdVerdict(22, 150)).toEqual([]);
    expect(sdVerdict(4.2, 150)[0]).toContain("4.2 MB/s");
  });

  test("throttle flags: now and since boot", () => {
    expect(parseThrottled("throttled=0x0")).toEqual({ now: false, sinceBoot: false, raw: 0 });
    expect(parseThrottled("throttled=0x50005")).toMatchObject({ now: true, sinceBoot: true });
    expect(parseThrottled("throttled=0x20000")).toMatchObject({ now: false, sinceBoot: true });
    expect(parseThrottled("error")).toBeNull();
  });

  test("hot, flagged or down-clocked under load fails; cool and at full clock passes", () => {
    const cool = Array.from({ length: 10 }, () => ({ celsius: 55, clockRatio: 1 }));
    expect(thermalVerdict(cool, null)).toEqual([]);
    expect(thermalVerdict([...cool, { celsius: 83, clockRatio: 1 }], null)[0]).toContain("83.0");
    expect(thermalVerdict(cool, parseThrottled("throttled=0x20000"))[0]).toContain("0x20000");
    const slowed = cool.map((s, i) => ({ ...s, clockRatio: i > 5 ? 0.6 : 1 }));
    expect(thermalVerdict(slowed, null)[0]).toContain("60%");
  });

  test("without a thermal sensor the check fails at once", async () => {
    const r = await thermalCheck(60, () => ({ celsius: null, clockRatio: null }));
    expect(r.ok).toBe(false);
    expect(r.detail).toContain("no thermal sensor");
  });
});
