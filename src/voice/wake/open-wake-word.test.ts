// The openWakeWord pipeline against real models and real (synthetic) speech: it must wake on "hey jarvis"
// said by several espeak-ng voices and stay quiet on everyday requests.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isKianaError } from "../../errors.ts";
import type { WakeDetection } from "../speech-ports.ts";
import { chunksOf, createSpeaker, owwModel, padded } from "./espeak.test-helper.ts";
import type { OnnxModule } from "./onnx-model.ts";
import { createWakeDetector, type OpenWakeWordDetector, type WakeEmbedding } from "./open-wake-word.ts";

const VOICES = ["en-us", "en-gb", "en-us+f3", "en+m3"];
const SPEEDS = [130, 150, 170];
const NEGATIVES = [
  "what time is it",
  "turn on the kitchen light",
  "hello there",
  "set a timer for five minutes",
  "play some music",
  "hey mycroft",
];

let ort: OnnxModule;
let detector: OpenWakeWordDetector;
const embeddings: WakeEmbedding[] = [];
const positives: { label: string; pcm: Int16Array; speechMs: number }[] = [];
const negatives: { label: string; pcm: Int16Array }[] = [];
let alexa: Int16Array;
let jarvis: Int16Array;

const baseOptions = () => ({
  ort,
  melspectrogramPath: owwModel("melspectrogram.onnx"),
  embeddingPath: owwModel("embedding_model.onnx"),
});

/** Feeds a clip from a clean start; detections' atMs are made relative to the clip's first sample. */
async function listen(pcm: Int16Array): Promise<WakeDetection[]> {
  detector.reset();
  const first = embeddings.length;
  const found: WakeDetection[] = [];
  for (const chunk of chunksOf(pcm, 1280)) found.push(...(await detector.process(chunk)));
  // The detector's clock runs on across resets; the first embedding of the clip marks where it began.
  const clipStartMs = embeddings[first]?.atMs ?? 0;
  return found.map((d) => ({ ...d, atMs: d.atMs - clipStartMs }));
}

beforeAll(async () => {
  ort = await import("onnxruntime-node");
  const speaker = createSpeaker();
  try {
    for (const voice of VOICES)
      for (const speed of SPEEDS) {
        const speech = speaker.say({ text: "hey jarvis", voice, speed });
        positives.push({
          label: `${voice}@${speed}`,
          pcm: padded(speech, 1000, 1000),
          speechMs: speech.length / 16,
        });
      }
    for (const text of NEGATIVES)
      for (const voice of ["en-us", "en-gb+f2"])
        negatives.push({
          label: `${text} (${voice})`,
          pcm: padded(speaker.say({ text, voice, speed: 150 }), 1000, 1000),
        });
    jarvis = speaker.say({ text: "hey jarvis", voice: "en-us", speed: 150 });
    alexa = padded(speaker.say({ text: "alexa", voice: "en-gb", speed: 150 }), 1000, 1000);
  } finally {
    speaker.close();
  }
  detector = await createWakeDetector({
    ...baseOptions(),
    models: [
      { name: "hey_jarvis", path: owwModel("hey_jarvis_v0.1.onnx") },
      { name: "alexa", path: owwModel("alexa_v0.1.onnx") },
    ],
    onEmbedding: (e) => embeddings.push(e),
  });
});

afterAll(async () => {
  await detector?.dispose();
});

describe("open wake word", () => {
  test("wakes on espeak 'hey jarvis' across voices and speeds, near the end of the phrase", async () => {
    let detected = 0;
    const missed: string[] = [];
    for (const p of positives) {
      const found = await listen(p.pcm);
      const hits = found.filter((d) => d.name === "hey_jarvis");
      if (hits.length === 0) {
        missed.push(p.label);
        continue;
      }
      detected++;
      // Once per utterance (refractory), and only once the words have been heard.
      expect(hits).toHaveLength(1);
      const at = hits[0]?.atMs ?? 0;
      expect(at).toBeGreaterThanOrEqual(1000 + p.speechMs * 0.5);
      expect(at).toBeLessThanOrEqual(1000 + p.speechMs + 800);
      expect(found.some((d) => d.name === "alexa")).toBe(false);
    }
    // Measured: 12 of 12 at threshold 0.5 (scores 0.98-0.999).
    console.log(
      `hey jarvis detected in ${detected} of ${positives.length} clips; missed: ${missed.join(", ")}`,
    );
    expect(detected).toBeGreaterThanOrEqual(Math.ceil(positives.length * 0.9));
  });

  test("stays quiet on other phrases", async () => {
    const fired: string[] = [];
    for (const n of negatives) if ((await listen(n.pcm)).length > 0) fired.push(n.label);
    // Measured: 0 of 12, highest hey_jarvis score 0.017.
    console.log(`false wakes: ${fired.length} of ${negatives.length} ${fired.join(", ")}`);
    expect(fired).toEqual([]);
  });

  test("tells several wake words apart in one detector", async () => {
    expect(detector.names).toEqual(["hey_jarvis", "alexa"]);
    expect((await listen(alexa)).map((d) => d.name)).toEqual(["alexa"]);
    expect((await listen(padded(jarvis, 1000, 1000))).map((d) => d.name)).toEqual(["hey_jarvis"]);
  });

  test("a repeat inside the refractory period is not reported again; one after it is", async () => {
    const gap = (ms: number) => {
      const out = new Int16Array(jarvis.length * 2 + ms * 16);
      out.set(jarvis);
      out.set(jarvis, jarvis.length + ms * 16);
      return padded(out, 1000, 1000);
    };
    // Said twice in a row (each clip is 1.3 s), the second falls within the default 2 s; 2.5 s apart not.
    expect(await listen(gap(0))).toHaveLength(1);
    const twice = await listen(gap(2500));
    expect(twice.map((d) => d.name)).toEqual(["hey_jarvis", "hey_jarvis"]);
    expect((twice[1]?.atMs ?? 0) - (twice[0]?.atMs ?? 0)).toBeGreaterThanOrEqual(2000);
  });

  test("reset() forgets the words heard so far", async () => {
    const pcm = padded(jarvis, 1000, 1000);
    const chunks = [...chunksOf(pcm, 1280)];
    detector.reset();
    let firing = -1;
    for (const [i, c] of chunks.entries())
      if ((await detector.process(c)).length > 0 && firing < 0) firing = i;
    expect(firing).toBeGreaterThan(0);
    // The same audio again, with a reset just before the chunk that fired: the phrase is gone.
    detector.reset();
    for (const c of chunks.slice(0, firing)) await detector.process(c);
    detector.reset();
    expect(detector.embeddings()).toHaveLength(0);
    expect(detector.scores).toEqual({ hey_jarvis: 0, alexa: 0 });
    const after: WakeDetection[] = [];
    for (const c of chunks.slice(firing)) after.push(...(await detector.process(c)));
    expect(after).toEqual([]);
  });

  test("streams one 96-dim embedding per 80 ms chunk and holds at most 16", async () => {
    const from = embeddings.length;
    await listen(padded(jarvis, 500, 500));
    const mine = embeddings.slice(from);
    expect(mine.length).toBe(Math.ceil((jarvis.length + 16_000) / 1280));
    for (const [i, e] of mine.entries()) {
      expect(e.embedding).toHaveLength(96);
      expect(e.atMs - (mine[0]?.atMs ?? 0)).toBe(i * 80);
    }
    expect(detector.embeddings()).toHaveLength(16 * 96);
    // Speech and silence must look different to a learner, or training on them would be pointless.
    const silent = mine[2]?.embedding ?? new Float32Array(96);
    const spoken = mine[Math.floor(mine.length / 2)]?.embedding ?? new Float32Array(96);
    let dot = 0;
    let a = 0;
    let b = 0;
    for (let i = 0; i < 96; i++) {
      dot += (silent[i] ?? 0) * (spoken[i] ?? 0);
      a += (silent[i] ?? 0) ** 2;
      b += (spoken[i] ?? 0) ** 2;
    }
    expect(dot / Math.sqrt(a * b)).toBeLessThan(0.95);
  });

  test("chunks sent without waiting are processed in order, as if awaited one by one", async () => {
    const pcm = padded(jarvis, 1000, 1000);
    const awaited = await listen(pcm);
    detector.reset();
    const first = embeddings.length;
    // Reusing one buffer also checks that a chunk is copied when it is queued.
    const buf = new Int16Array(1280);
    const pending = [...chunksOf(pcm, 1280)].map((c) => {
      buf.set(c);
      return detector.process(buf);
    });
    const all = (await Promise.all(pending)).flat();
    const clipStart = embeddings[first]?.atMs ?? 0;
    expect(all.map((d) => ({ ...d, atMs: d.atMs - clipStart }))).toEqual(awaited);
  });

  test("refuses chunks that are not 1280 s16 samples, naming the size", async () => {
    for (const n of [0, 1000, 2560]) {
      const err = await detector.process(new Int16Array(n)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RangeError);
      expect(String(err)).toContain(`1280 samples (80 ms at 16 kHz), got ${n}`);
    }
    const float = detector.process(new Float32Array(1280) as unknown as Int16Array);
    await expect(float).rejects.toThrow(/Int16Array/);
    // A refused chunk leaves the stream usable.
    expect(await detector.process(new Int16Array(1280))).toEqual([]);
  });

  test("a missing or unusable model file fails creation with the file named", async () => {
    const missing = await createWakeDetector({
      ...baseOptions(),
      models: [{ name: "hey_jarvis", path: "/nonexistent/hey_jarvis.onnx" }],
    }).catch((e: unknown) => e);
    expect(isKianaError(missing, "MODEL_NOT_FOUND")).toBe(true);
    expect(String(missing)).toContain('wake model "hey_jarvis": model file /nonexistent/hey_jarvis.onnx');

    const junk = join(tmpdir(), `kiana-wake-junk-${process.pid}.onnx`);
    writeFileSync(junk, "not a model");
    const invalid = await createWakeDetector({
      ...baseOptions(),
      embeddingPath: junk,
      models: [{ name: "x", path: junk }],
    })
      .catch((e: unknown) => e)
      .finally(() => rmSync(junk, { force: true }));
    expect(isKianaError(invalid, "MODEL_FILE_INVALID")).toBe(true);
    expect(String(invalid)).toContain(`embedding model: onnxruntime cannot load ${junk}`);

    // A real ONNX file in the wrong slot: the VAD where a wake model belongs.
    const wrong = await createWakeDetector({
      ...baseOptions(),
      models: [{ name: "vad", path: owwModel("silero_vad.onnx") }],
    }).catch((e: unknown) => e);
    expect(isKianaError(wrong, "MODEL_FILE_INVALID")).toBe(true);
    expect(String(wrong)).toContain("expected one float32 input [?, 16, 96]");
  });

  test("refuses bad options and use after dispose()", async () => {
    const jarvisModel = { name: "hey_jarvis", path: owwModel("hey_jarvis_v0.1.onnx") };
    await expect(createWakeDetector({ ...baseOptions(), models: [] })).rejects.toThrow(
      /at least one wake model/,
    );
    await expect(
      createWakeDetector({ ...baseOptions(), models: [jarvisModel, jarvisModel] }),
    ).rejects.toThrow(/given twice/);
    await expect(
      createWakeDetector({ ...baseOptions(), models: [{ ...jarvisModel, threshold: 1.5 }] }),
    ).rejects.toThrow(/threshold/);
    const d = await createWakeDetector({ ...baseOptions(), models: [jarvisModel] });
    await d.dispose();
    await expect(d.process(new Int16Array(1280))).rejects.toThrow(/after dispose/);
  });
});
