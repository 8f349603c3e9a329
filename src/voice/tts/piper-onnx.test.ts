import { describe, expect, test } from "bun:test";
import { parsePiperConfig, phonemeIds } from "./piper-onnx.ts";

const CONFIG = {
  audio: { sample_rate: 22050 },
  espeak: { voice: "en-us" },
  inference: { noise_scale: 0.5, length_scale: 1.1 },
  phoneme_id_map: {
    _: [0],
    "^": [1],
    $: [2],
    " ": [3],
    h: [20],
    ə: [59],
    l: [24],
    ˈ: [120],
    o: [27],
    ʊ: [100],
  },
};

describe("piper config and phoneme ids", () => {
  test("valid config: rate, voice, scales with Piper's default noise_w", () => {
    const r = parsePiperConfig(CONFIG);
    if (!r.ok) throw new Error(r.reason);
    expect(r.config.sampleRate).toBe(22050);
    expect(r.config.scales).toEqual([0.5, 1.1, 0.8]);
  });

  test.each([
    [{ ...CONFIG, audio: {} }, "audio.sample_rate"],
    [{ ...CONFIG, phoneme_id_map: undefined }, "phoneme_id_map is missing"],
    [{ ...CONFIG, phoneme_id_map: { _: [0], "^": [1] } }, 'lacks "$"'],
    [{ ...CONFIG, phoneme_id_map: { ...CONFIG.phoneme_id_map, a: ["x"] } }, 'phoneme_id_map["a"]'],
  ])("refuses %#", (json, reason) => {
    const r = parsePiperConfig(json);
    expect(r.ok ? "" : r.reason).toContain(reason);
  });

  test("^ _ p1 _ p2 _ … $, unknown phonemes skipped and reported", () => {
    const r = parsePiperConfig(CONFIG);
    if (!r.ok) throw new Error(r.reason);
    const { ids, unknown } = phonemeIds("həlˈoʊ x", r.config.phonemeIdMap);
    expect(ids).toEqual([1, 0, 20, 0, 59, 0, 24, 0, 120, 0, 27, 0, 100, 0, 3, 0, 2]);
    expect(unknown).toEqual(["x"]);
  });
});
