// The satellite in the FedAvg loop, with the fakes at the hardware boundary, a real logistic verifier
// and the real SQLite example store: the released model filters detections as soon as it exists, and
// what the user did after a heard detection labels its embedding window.
import { afterEach, describe, expect, test } from "bun:test";
import {
  createExampleStore,
  type ModelSpec,
  paramCount,
  WAKE_FEATURES,
  wakeFeatures,
  wakeVerifier,
} from "../../fedavg/index.ts";
import { createLogger } from "../../platform/log.ts";
import { openStore } from "../../store/index.ts";
import { audioChunk, audioStart, audioStop, wyomingEvent } from "../wyoming/index.ts";
import {
  createEnergyVad,
  createFiredWakeDetector,
  createRecordingSpeaker,
  createScriptedMicrophone,
  waitFor,
} from "./satellite.test-helper.ts";
import { createSatellite, type SatelliteActivity } from "./satellite.ts";
import { createWakeFedavg } from "./wake-fedavg.ts";

const spec: ModelSpec = { kind: "logistic", inputs: WAKE_FEATURES, hidden: 0 };
/** A released model that only looks at the window's first value: > 0 is the wake word. */
const released = () => {
  const p = new Float32Array(paramCount(spec));
  p[0] = 16;
  return p;
};
const windowOf = (first: number) => {
  const w = new Float32Array(WAKE_FEATURES);
  for (let i = 0; i < w.length; i++) w[i] = Math.sin(i) * 3;
  w[0] = first;
  return w;
};
const tone = (ms: number) => {
  const pcm = new Int16Array(ms * 16);
  for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(8000 * Math.sin((2 * Math.PI * 300 * i) / 16000));
  return { sampleRate: 16000, channels: 1 as const, samples: pcm };
};
const answerFormat = { rate: 22050, width: 2, channels: 1 };

function setup(opts: { collect?: boolean } = {}) {
  const store = openStore({ path: ":memory:" });
  const examples = createExampleStore({ db: store.db });
  let model: Float32Array | null = null;
  const hooks = createWakeFedavg({
    verifier: () => (model ? wakeVerifier(spec, model) : null),
    examples: opts.collect === false ? null : examples,
  });
  const mic = createScriptedMicrophone({ speed: 25 });
  const speaker = createRecordingSpeaker();
  const wake = createFiredWakeDetector(["hey_kiana", "stop"]);
  const activity: SatelliteActivity[] = [];
  const sent: string[] = [];
  const satellite = createSatellite({
    mic,
    speaker,
    wake,
    vad: createEnergyVad(),
    wakeWords: [{ name: "hey_kiana" }],
    stopWords: ["stop"],
    noSpeechMs: 1000,
    refractoryMs: 0,
    log: createLogger({ level: "silent" }),
    wakeWindow: () => wake.embeddings(),
    verify: hooks.verify,
    examples: hooks.examples,
    onActivity: (a) => activity.push(a),
  });
  const running = satellite.run();
  satellite.attach(async (e) => void sent.push(e.type));
  const release = (p: Float32Array) => {
    model = p;
  };
  /** Every stored row, as bytes: what a look at the database would find. */
  const rows = () =>
    store.db
      .query<{ label: number; source: string; features: Uint8Array }, []>(
        "SELECT label, source, features FROM fedavg_example ORDER BY id",
      )
      .all();
  const made = { store, examples, mic, wake, satellite, activity, sent, running, release, rows };
  current = made;
  return made;
}
let current: ReturnType<typeof setup> | null = null;
afterEach(async () => {
  current?.mic.close();
  await current?.running;
  current?.store.close();
  current = null;
});

async function hear(s: ReturnType<typeof setup>, window: Float32Array) {
  s.wake.window = window;
  s.wake.fire("hey_kiana");
  await waitFor(() => s.satellite.wakeStats.detected > 0, "the detection");
}

async function answer(s: ReturnType<typeof setup>, text: string) {
  await s.satellite.receive(wyomingEvent("transcript", { text }));
  await s.satellite.receive(audioStart(answerFormat));
  await s.satellite.receive(audioChunk(answerFormat, new Uint8Array(882)));
  await s.satellite.receive(audioStop());
}

const bytes = (x: Float32Array) => new Uint8Array(x.buffer.slice(0));

describe("satellite wake verifier", () => {
  test("no model released yet: the detection starts an utterance", async () => {
    const s = setup();
    await hear(s, windowOf(-4));
    await waitFor(() => s.satellite.state === "streaming", "streaming");
    expect(s.sent[0]).toBe("run-pipeline");
    expect(s.satellite.wakeStats).toMatchObject({ detected: 1, rejected: 0 });
  });

  test("a model released while running rejects at once: the detection is ignored and not stored", async () => {
    const s = setup();
    s.release(released());
    await hear(s, windowOf(-4));
    await Bun.sleep(30);
    expect(s.satellite.state).toBe("wake");
    expect(s.sent).toEqual([]);
    expect(s.satellite.wakeStats).toMatchObject({ detected: 1, rejected: 1 });
    const rejected = s.activity.find((a) => a.type === "wake-rejected");
    expect(rejected).toMatchObject({ name: "hey_kiana" });
    expect(rejected?.type === "wake-rejected" && rejected.score).toBeLessThan(0.5);
    // The same model lets the wake word through.
    s.wake.window = windowOf(4);
    s.wake.fire("hey_kiana");
    await waitFor(() => s.satellite.state === "streaming", "streaming after an accepted detection");
    expect(s.rows()).toEqual([]);
  });
});

describe("satellite wake examples", () => {
  test("a detection followed by an understood request is stored as a positive window", async () => {
    const s = setup();
    const window = windowOf(2);
    await hear(s, window);
    await s.mic.say(tone(500));
    await waitFor(() => s.satellite.state === "answering", "the utterance to end");
    await answer(s, "what time is it");
    expect(s.rows()).toEqual([{ label: 1, source: "confirmed", features: bytes(wakeFeatures(window)) }]);
    expect(s.examples.list("wake", WAKE_FEATURES)[0]?.x).toEqual(wakeFeatures(window));
    expect(s.satellite.wakeStats).toMatchObject({ confirmed: 1, cancelled: 0 });
  });

  test("a stop word right after the wake word stores a negative; no speech does too", async () => {
    const s = setup();
    const first = windowOf(1);
    await hear(s, first);
    await waitFor(() => s.satellite.state === "streaming", "streaming");
    s.wake.fire("stop");
    await waitFor(() => s.satellite.state === "wake", "the cancel");
    const second = windowOf(3);
    s.wake.window = second;
    s.wake.fire("hey_kiana");
    await waitFor(() => s.satellite.state === "answering", "the no-speech limit", 8000);
    expect(s.rows()).toEqual([
      { label: 0, source: "cancelled", features: bytes(wakeFeatures(first)) },
      { label: 0, source: "cancelled", features: bytes(wakeFeatures(second)) },
    ]);
    expect(s.examples.count("wake")).toEqual({ positive: 0, negative: 2 });
  });

  test("unclear outcomes store nothing: an empty transcript, a stop word after the answer began, a trigger", async () => {
    const s = setup();
    await hear(s, windowOf(2));
    await s.mic.say(tone(400));
    await waitFor(() => s.satellite.state === "answering", "the utterance to end");
    await answer(s, " ");
    await waitFor(() => s.satellite.state === "wake", "listening again");
    s.satellite.trigger();
    await waitFor(() => s.satellite.state === "streaming", "the trigger");
    await s.mic.say(tone(400));
    await waitFor(() => s.satellite.state === "answering", "the triggered utterance to end");
    await answer(s, "what time is it");
    expect(s.rows()).toEqual([]);
  });

  test("the answer is stopped after the request was understood: still a positive, no negative", async () => {
    const s = setup();
    await hear(s, windowOf(2));
    await s.mic.say(tone(400));
    await waitFor(() => s.satellite.state === "answering", "the utterance to end");
    await s.satellite.receive(wyomingEvent("transcript", { text: "tell me a story" }));
    await s.satellite.receive(audioStart(answerFormat));
    s.wake.fire("stop");
    await waitFor(() => s.satellite.state === "wake", "the stop word");
    expect(s.rows().map((r) => r.source)).toEqual(["confirmed"]);
  });

  test("without a store nothing is collected, and the verifier still applies", async () => {
    const s = setup({ collect: false });
    await hear(s, windowOf(2));
    await s.mic.say(tone(400));
    await waitFor(() => s.satellite.state === "answering", "the utterance to end");
    await answer(s, "what time is it");
    expect(s.rows()).toEqual([]);
    expect(s.satellite.wakeStats.confirmed).toBe(0);
  });
});
