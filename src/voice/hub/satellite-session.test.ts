// The hub's session speaks a streamed model answer sentence by sentence while the model still writes,
// inside one audio-start … audio-stop answer; an intent's reply is spoken whole, as before.
import { expect, test } from "bun:test";
import { createAssistant, type LlmFallback } from "../../assistant/index.ts";
import { createLogger } from "../../platform/log.ts";
import type { SpeechAudio, SpeechToText, TextToSpeech } from "../speech-ports.ts";
import { type WyomingEvent, wyomingEvent } from "../wyoming/index.ts";
import { createSatelliteSession, type UtteranceResult } from "./satellite-session.ts";

const log = createLogger({ level: "silent", format: "json", write: () => {} });

const sttSaying = (text: string): SpeechToText => ({
  name: "fake-stt",
  start: () => ({ write() {}, finish: async () => ({ text, decodeMs: 0 }), cancel() {} }),
});

/** Each sentence is one chunk of audio whose first sample is the sentence's number, from 1. */
function fakeTts() {
  const said: string[] = [];
  const tts: TextToSpeech = {
    name: "fake-tts",
    voices: ["v"],
    synthesize(text): SpeechAudio {
      said.push(text);
      const n = said.length;
      return {
        sampleRate: 16000,
        async *[Symbol.asyncIterator]() {
          await Promise.resolve();
          yield new Int16Array(100).fill(n);
        },
      };
    },
  };
  return { tts, said };
}

function gate() {
  let open = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}

function session(llm: LlmFallback, transcript: string) {
  const events: WyomingEvent[] = [];
  const results: UtteranceResult[] = [];
  const { tts, said } = fakeTts();
  const assistant = createAssistant({ llm });
  const s = createSatelliteSession({
    satellite: "kitchen",
    send: async (e) => void events.push(e),
    stt: sttSaying(transcript),
    tts,
    assistant,
    log,
    onResult: (r) => void results.push(r),
  });
  const utterance = async () => {
    await s.receive(wyomingEvent("run-pipeline", { start_stage: "asr", end_stage: "tts" }));
    await s.receive(wyomingEvent("audio-start", { rate: 16000, width: 2, channels: 1 }));
    await s.receive(wyomingEvent("audio-stop", {}));
  };
  const types = () =>
    events.map((e) => e.type).filter((t, i, all) => t !== "audio-chunk" || all[i - 1] !== t);
  const firstSamples = () =>
    events
      .filter((e) => e.type === "audio-chunk")
      .map((e) => new Int16Array((e.payload ?? new Uint8Array(2)).slice(0, 2).buffer)[0]);
  return { events, results, said, utterance, types, firstSamples, close: () => assistant.close() };
}

/** Lets queued promise callbacks and the fake TTS's awaits run; bounded, no wall-clock waiting. */
async function settle(until: () => boolean) {
  for (let i = 0; i < 1000 && !until(); i++) await new Promise((r) => setTimeout(r, 0));
  return until();
}

test("a long model answer starts playing before the model has finished, sentence by sentence in one answer", async () => {
  const rest = gate();
  let finished = false;
  const llm: LlmFallback = async function* () {
    yield "Once upon a time, ";
    yield "there was a fox. It";
    yield " ran";
    await rest.opened;
    yield " away!\nThe";
    yield " end.";
    finished = true;
  };
  const t = session(llm, "tell me a story");
  const answering = t.utterance();
  // The first sentence is complete; "It ran" is not, and the model is held at the gate.
  expect(await settle(() => t.events.some((e) => e.type === "audio-chunk"))).toBe(true);
  expect(finished).toBe(false);
  expect(t.said).toEqual(["Once upon a time, there was a fox."]);
  rest.open();
  await answering;
  expect(finished).toBe(true);
  expect(t.said).toEqual(["Once upon a time, there was a fox.", "It ran away!", "The end."]);
  expect(t.firstSamples()).toEqual([1, 2, 3]);
  expect(t.types()).toEqual(["transcript", "synthesize", "audio-start", "audio-chunk", "audio-stop"]);
  expect(t.events.find((e) => e.type === "synthesize")?.data).toEqual({
    text: "Once upon a time, there was a fox.",
  });
  expect(t.results[0]).toMatchObject({
    intent: null,
    reply: "Once upon a time, there was a fox. It ran away! The end.",
  });
  expect(t.results[0]?.error).toBeUndefined();
  t.close();
});

test("a model failing part-way leaves what was said, drops the unfinished sentence and apologises in the same answer", async () => {
  const llm: LlmFallback = async function* () {
    yield "The capital is Paris. The river";
    throw new Error("the peer went away");
  };
  const t = session(llm, "tell me about france");
  await t.utterance();
  expect(t.said).toEqual(["The capital is Paris.", "Sorry, I could not come up with an answer."]);
  expect(t.types()).toEqual(["transcript", "synthesize", "audio-start", "audio-chunk", "audio-stop"]);
  expect(t.firstSamples()).toEqual([1, 2]);
  expect(t.results[0]?.reply).toBe("The capital is Paris. Sorry, I could not come up with an answer.");
  t.close();
});

test("an intent's reply is spoken whole after its timer event, exactly as before", async () => {
  const t = session(async () => "unused", "set a timer for two minutes");
  await t.utterance();
  expect(t.said).toEqual(["Timer set for 2 minutes."]);
  expect(t.types()).toEqual([
    "transcript",
    "timer-started",
    "synthesize",
    "audio-start",
    "audio-chunk",
    "audio-stop",
  ]);
  expect(t.events.find((e) => e.type === "synthesize")?.data).toEqual({ text: t.said[0] });
  t.close();
});

test("a whole (not streamed) model answer is still spoken, in sentences of one answer", async () => {
  const t = session(async () => "Paris. On the Seine.", "what is the capital of france");
  await t.utterance();
  expect(t.said).toEqual(["Paris.", "On the Seine."]);
  expect(t.types()).toEqual(["transcript", "synthesize", "audio-start", "audio-chunk", "audio-stop"]);
  t.close();
});
