import { describe, expect, test } from "bun:test";
import { audioChunk, audioStart, errorEvent, parseEvent, readEvent, wyomingEvent } from "./events.ts";
import type { WyomingEvent } from "./framing.ts";
import { parseInfo } from "./info.ts";
import { MIC_FORMAT, pcm16, SATELLITE_INFO, sampleEvents } from "./wyoming.test-helper.ts";

const ev = (type: string, data: Record<string, unknown>, payload?: Uint8Array): WyomingEvent =>
  payload ? { type, data, payload } : { type, data };

describe("typed views", () => {
  test("every sample parses to the data it was built from", () => {
    for (const sample of sampleEvents()) {
      const parsed = parseEvent(sample);
      expect(parsed.kind).toBe("known");
      if (parsed.kind !== "known") continue;
      expect(parsed.event.type).toBe(sample.type as typeof parsed.event.type);
      if (sample.type !== "info") expect(parsed.event.data as object).toEqual(sample.data);
    }
  });

  test("info round trips and keeps what Home Assistant needs to adopt a satellite", () => {
    const event = wyomingEvent("info", SATELLITE_INFO);
    // Every list is present, as Home Assistant's reader expects.
    expect(Object.keys(event.data).sort()).toEqual([
      "asr",
      "handle",
      "intent",
      "mic",
      "satellite",
      "snd",
      "tts",
      "wake",
    ]);
    const info = readEvent(event, "info");
    expect(info?.satellite?.name).toBe("kitchen");
    expect(info?.satellite?.area).toBe("Kitchen");
    expect(info?.satellite?.has_vad).toBe(true);
    expect(info?.asr[0]?.models[0]?.languages).toEqual(["en"]);
    expect(info?.asr[0]?.version).toBe("5.0");
  });

  test("info from a peer: entries missing required fields are dropped, the rest kept", () => {
    const info = parseInfo({
      asr: [
        { name: "ok", attribution: { name: "a", url: "u" }, installed: true, models: [{ name: "m" }] },
        { name: "no attribution", installed: true, models: [] },
        "garbage",
      ],
      tts: [
        {
          name: "piper",
          attribution: { name: "a", url: "u" },
          installed: false,
          voices: [
            { name: "v", attribution: { name: "a", url: "u" }, installed: true, languages: ["en", 3] },
          ],
        },
      ],
      mic: [
        { name: "mic", attribution: { name: "a", url: "u" }, installed: true, mic_format: { rate: 16000 } },
      ],
      satellite: { name: "x" },
      future: { anything: true },
    });
    expect(info.asr.map((p) => p.name)).toEqual(["ok"]);
    // A model without attribution is not a model either.
    expect(info.asr[0]?.models).toEqual([]);
    expect(info.tts[0]?.voices[0]?.languages).toEqual(["en"]);
    expect(info.mic).toEqual([]);
    expect(info.satellite).toBeUndefined();
  });

  test("unknown fields are left out of the typed view but kept in the raw event", () => {
    const raw = ev("transcript", { text: "lights on", language: "en", confidence: 0.9 });
    expect(readEvent(raw, "transcript")).toEqual({ text: "lights on", language: "en" });
    expect(raw.data.confidence).toBe(0.9);
  });

  test("null reads as absent, as the Python reference writes optional fields", () => {
    const detection = ev("detection", { name: "hey_kiana", timestamp: null, speaker: null });
    expect(readEvent(detection, "detection")).toEqual({ name: "hey_kiana" });
    expect(readEvent(ev("ping", { text: null }), "ping")).toEqual({});
  });

  test("an unknown type is reported as unknown, for handlers to ignore", () => {
    expect(parseEvent(ev("transcript-chunk", { text: "li" }))).toEqual({
      kind: "unknown",
      type: "transcript-chunk",
    });
    expect(readEvent(ev("transcript-chunk", { text: "li" }), "transcript")).toBeNull();
  });

  test.each([
    ["transcript", {}, "transcript: text is required"],
    ["synthesize", { text: "hi", voice: "en" }, "synthesize: voice must be an object"],
    ["synthesize", { text: "hi", voice: { name: 1 } }, "synthesize: voice.name must be a string"],
    ["audio-start", { rate: 16000, width: 2 }, "audio-start: channels is required"],
    ["audio-start", { rate: 16000, width: 2.5, channels: 1 }, "audio-start: width must be an integer"],
    ["audio-chunk", { rate: 10, width: 2, channels: 1 }, "audio-chunk: rate must be 1000-384000 Hz"],
    ["audio-chunk", { rate: 16000, width: 2, channels: 64 }, "audio-chunk: channels must be 1-16"],
    [
      "run-pipeline",
      { start_stage: "tts", end_stage: "asr" },
      "run-pipeline: end_stage comes before start_stage",
    ],
    [
      "run-pipeline",
      { start_stage: "listen", end_stage: "tts" },
      "run-pipeline: start_stage must be wake|asr|intent|handle|tts",
    ],
    ["timer-started", { id: "t", total_seconds: "60" }, "timer-started: total_seconds must be an integer"],
    ["timer-updated", { id: "t", total_seconds: 5 }, "timer-updated: is_active is required"],
    ["error", { code: "x" }, "error: text is required"],
    ["detect", { names: ["a", 1] }, "detect: names must be a list of strings"],
  ])("%s %j is invalid: %s", (type, data, problem) => {
    expect(parseEvent(ev(type, data))).toEqual({ kind: "invalid", type: type as never, problem });
  });

  test("constructors leave out undefined fields and carry audio as the payload", () => {
    expect(audioStart(MIC_FORMAT)).toEqual({
      type: "audio-start",
      data: { rate: 16000, width: 2, channels: 1 },
    });
    const pcm = pcm16(160);
    const chunk = audioChunk({ ...MIC_FORMAT, extra: 1 } as typeof MIC_FORMAT, pcm, 40);
    expect(chunk).toEqual({
      type: "audio-chunk",
      data: { rate: 16000, width: 2, channels: 1, timestamp: 40 },
      payload: pcm,
    });
    expect(errorEvent("bad", "bad-frame")).toEqual({
      type: "error",
      data: { text: "bad", code: "bad-frame" },
    });
    const parsed = parseEvent(ev("audio-chunk", { rate: 16000, width: 2, channels: 1 }));
    expect(parsed.kind === "known" && parsed.event.payload?.length).toBe(0);
  });
});
