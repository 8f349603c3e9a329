// The voice path end to end with real engines: espeak-ng speech played into the satellite's microphone
// → Silero VAD ends the utterance → Wyoming over loopback TCP → hub (pocketsphinx on the assistant's
// grammar, the assistant, espeak-ng) → the answer streamed back to the satellite's speaker. Only the
// microphone and speaker are fakes; the wake word is triggered directly (its models are tested in wake/).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAssistant, createMemoryFacts } from "../assistant/index.ts";
import { createLogger } from "../platform/log.ts";
import { rms } from "./audio/pcm.ts";
import { encodeWav, parseWav } from "./audio/wav.ts";
import { createVoiceHub, type VoiceHub } from "./hub/hub.ts";
import type { UtteranceResult } from "./hub/satellite-session.ts";
import { createSpeechServer } from "./hub/speech-server.ts";
import {
  createEnergyVad,
  createRecordingSpeaker,
  createScriptedMicrophone,
  type RecordingSpeaker,
  type ScriptedMicrophone,
  waitFor,
} from "./satellite/satellite.test-helper.ts";
import { createSatellite, type Satellite, type SatelliteActivity } from "./satellite/satellite.ts";
import { createSatelliteServer, satelliteInfo } from "./satellite/satellite-server.ts";
import type { TextToSpeech, VoiceActivity } from "./speech-ports.ts";
import { createPocketsphinxStt, type PocketsphinxStt } from "./stt/pocketsphinx.ts";
import { createEspeakTts } from "./tts/index.ts";
import { owwModel } from "./wake/espeak.test-helper.ts";
import { createVoiceActivity } from "./wake/silero-vad.ts";
import {
  audioChunk,
  audioStart,
  audioStop,
  connectWyoming,
  readEvent,
  type WyomingServer,
  wyomingEvent,
} from "./wyoming/index.ts";

const log = createLogger({ level: process.env.KIANA_TEST_LOG ?? "silent", format: "pretty" });
const dir = mkdtempSync(join(tmpdir(), "kiana-voice-e2e-"));
let n = 0;

/** espeak-ng's own WAV file, as a person would make one: the bytes go through the file microphone. */
function spoken(text: string, voice = "en-us", speed = 150): Uint8Array {
  const file = join(dir, `${n++}.wav`);
  const r = Bun.spawnSync(["espeak-ng", "-v", voice, "-s", String(speed), "-w", file, text]);
  if (r.exitCode !== 0) throw new Error(`espeak-ng failed: ${r.stderr.toString()}`);
  return new Uint8Array(readFileSync(file));
}

const published: { topic: string; payload: string }[] = [];
const activity: (SatelliteActivity & { at: number })[] = [];
const results: UtteranceResult[] = [];
let mic: ScriptedMicrophone;
let speaker: RecordingSpeaker;
let satellite: Satellite;
let satelliteServer: WyomingServer;
let speechServer: WyomingServer;
let hub: VoiceHub;
let stt: PocketsphinxStt;
let tts: TextToSpeech;
let vad: VoiceActivity;
let assistant: ReturnType<typeof createAssistant>;
const memory = createMemoryFacts();
let running: Promise<unknown>;

beforeAll(async () => {
  try {
    vad = await createVoiceActivity({
      ort: await import("onnxruntime-node"),
      path: owwModel("silero_vad.onnx"),
    });
  } catch {
    // Without onnxruntime the loudness VAD stands in; the rest of the path is unchanged.
    vad = createEnergyVad();
  }
  assistant = createAssistant({
    devices: [{ id: "kitchen-light", name: "kitchen light" }],
    publish: async (topic, payload) => void published.push({ topic, payload }),
    fleet: "home",
    node: "hub",
    facts: memory,
    onTimer: (e) => void hub.timerRang(e.name, e.announcement),
  });
  stt = createPocketsphinxStt({ jsgf: () => assistant.grammar() });
  tts = createEspeakTts({ defaultVoice: "en-us" });
  mic = createScriptedMicrophone({ speed: 10 });
  speaker = createRecordingSpeaker();
  satellite = createSatellite({
    mic,
    speaker,
    vad,
    log,
    onActivity: (a) => activity.push({ ...a, at: performance.now() }),
  });
  running = satellite.run();
  const info = satelliteInfo({ name: "kitchen", wakeWords: ["hey_kiana"], hasVad: true });
  satelliteServer = createSatelliteServer({ satellite, info: () => info, host: "127.0.0.1", port: 0, log });
  hub = createVoiceHub({
    satellites: [`127.0.0.1:${satelliteServer.port}`],
    stt,
    tts,
    assistant,
    log,
    onResult: (r) => results.push(r),
  });
  speechServer = createSpeechServer({ stt, tts, host: "127.0.0.1", port: 0, log });
  await waitFor(() => satellite.state === "wake", "the hub to run the satellite", 10_000);
});

afterAll(async () => {
  await hub?.stop();
  await satelliteServer?.close();
  await speechServer?.close();
  mic?.close();
  await running;
  stt?.dispose();
  assistant?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** One spoken request through the whole path; returns the hub's result and the answer audio. */
async function ask(text: string, voice?: string, speed?: number) {
  const from = activity.length;
  const plays = speaker.plays.length;
  const before = results.length;
  expect(satellite.trigger("hey_kiana")).toBe(true);
  await mic.say(spoken(text, voice, speed));
  const done = () => activity.slice(from).find((a) => a.type === "played" || a.type === "error");
  await waitFor(() => done() !== undefined, `an answer to "${text}"`, 20_000);
  expect(done()?.type).toBe("played");
  const seen = activity.slice(from);
  expect(seen.find((a) => a.type === "utterance-end")).toMatchObject({ reason: "speech-end" });
  const pcm = Int16Array.from(speaker.plays.slice(plays).flatMap((p) => [...p.pcm]));
  const rate = speaker.plays[plays]?.opts.sampleRate ?? 0;
  return { result: results[before] as UtteranceResult, pcm, rate };
}

/** A user would hear it: loud enough, long enough, and a valid WAV when written out. */
function expectAudible(pcm: Int16Array, rate: number) {
  expect(rms(pcm)).toBeGreaterThan(0.01);
  expect(pcm.length / rate).toBeGreaterThan(0.4);
  const wav = parseWav(encodeWav({ sampleRate: rate, channels: 1, samples: pcm }));
  expect(wav.ok).toBe(true);
}

/** Three espeak voices at a slow and a brisk pace: each command below is said in all six. */
const VOICES = [
  ["en-us", 140],
  ["en-us", 175],
  ["en-gb", 140],
  ["en-gb", 175],
  ["en+m3", 140],
  ["en+m3", 175],
] as const;
type Voice = (typeof VOICES)[number];

/** Per command: in how many voices it was heard word for word, how many got the right outcome, and what was heard when not. */
const tally = new Map<string, { exact: number; right: number; misheard: string[] }>();

/**
 * Says `text` in `voice` and records whether `check` finds the outcome right: the intent, and the
 * effect or reply that shows its slots were understood. The answer must be audible either way.
 */
async function attempt(text: string, voice: Voice, check: (r: UtteranceResult) => boolean) {
  const { result, pcm, rate } = await ask(text, voice[0], voice[1]);
  expectAudible(pcm, rate);
  const t = tally.get(text) ?? { exact: 0, right: 0, misheard: [] };
  tally.set(text, t);
  if (result.transcript === text) t.exact++;
  if (check(result)) t.right++;
  else t.misheard.push(`${voice.join("@")}: "${result.transcript}" → ${result.intent}: ${result.reply}`);
}

/**
 * Right in at least `floor` of the six voices. A floor of 6: right in every voice in every measured
 * run. Lower floors are one under the fewest measured (3 runs), since the noise floor added to the
 * audio and the VAD's cut vary a little between runs: "what day is it" was 5/6 ("what time is it"
 * once), "five minutes" 5–6/6 ("a minute"), "ten minute" 4/6 ("two minutes"), "the keys" 4/6
 * ("my car keys"), "switch off" 5/6 ("switch on"), "turn on" 4–6/6.
 */
function expectRight(text: string, floor: number) {
  const t = tally.get(text) ?? { exact: 0, right: 0, misheard: ["never said"] };
  // On failure the message lists what was heard instead.
  expect([text, t.right >= floor || t.misheard]).toEqual([text, true]);
}

afterAll(() => {
  const rows = [...tally].map(
    ([text, t]) =>
      `${t.right}/${VOICES.length} ${t.exact}/${VOICES.length}  ${text}${t.misheard.map((m) => `\n        ${m}`).join("")}`,
  );
  console.log(`voice end to end, right and word for word per command:\n  ${rows.join("\n  ")}`);
});

const timerLeft = () => assistant.timers().map((t) => t.durationMs);

describe("voice end to end", () => {
  test("time and date", async () => {
    const isTime = (r: UtteranceResult) =>
      r.intent === "time" && /^It is \d{1,2}:\d\d [AP]M\.$/.test(r.reply);
    const isDate = (r: UtteranceResult) => r.intent === "date" && r.reply.startsWith("Today is ");
    for (const voice of VOICES) {
      await attempt("what time is it", voice, isTime);
      await attempt("tell me the time", voice, isTime);
      await attempt("what is the date today", voice, isDate);
      await attempt("what day is it", voice, isDate);
    }
    expectRight("what time is it", 6);
    expectRight("tell me the time", 6);
    expectRight("what is the date today", 6);
    expectRight("what day is it", 4);
  }, 60_000);

  test("a timer rings on the satellite that set it", async () => {
    const set = await ask("set a timer for three seconds", "en-us", 150);
    expect(set.result.transcript).toBe("set a timer for three seconds");
    expect(set.result.reply).toBe("Timer set for 3 seconds.");
    const from = activity.length;
    await waitFor(
      () => activity.slice(from).some((a) => a.type === "timer" && a.event === "timer-finished"),
      "the timer to ring",
      10_000,
    );
    await waitFor(() => activity.slice(from).some((a) => a.type === "played"), "the announcement", 10_000);
    expect(assistant.timers()).toEqual([]);
  }, 30_000);

  test("timers: set with spoken numbers, time left, cancel", async () => {
    const setFor = (ms: number, reply: string) => (r: UtteranceResult) =>
      r.intent === "timer.start" && r.reply === reply && timerLeft().includes(ms);
    for (const voice of VOICES) {
      await attempt("set a timer for five minutes", voice, setFor(300_000, "Timer set for 5 minutes."));
      await attempt("set a ten minute timer", voice, setFor(600_000, "Timer set for 10 minutes."));
      await attempt(
        "set a timer for twenty five seconds",
        voice,
        setFor(25_000, "Timer set for 25 seconds."),
      );
      // Typed, not heard: what follows needs exactly one timer running, whatever was misheard above.
      assistant.close();
      await assistant.handle("set a timer for two minutes");
      await attempt(
        "how much time is left",
        voice,
        (r) =>
          r.intent === "timer.remaining" &&
          /^There (are 2 minutes|is 1 minute and \d+ seconds?) left\.$/.test(r.reply),
      );
      await attempt(
        "cancel the timer",
        voice,
        (r) => r.intent === "timer.cancel" && r.reply === "Timer cancelled." && timerLeft().length === 0,
      );
      assistant.close();
    }
    expectRight("set a timer for five minutes", 4);
    expectRight("set a ten minute timer", 3);
    expectRight("set a timer for twenty five seconds", 6);
    expectRight("how much time is left", 6);
    expectRight("cancel the timer", 6);
  }, 90_000);

  test("remember a fact, then recall it", async () => {
    const facts = [
      {
        tell: "remember that the keys are in the drawer",
        fact: "the keys are in the drawer",
        ask: "where are the keys",
      },
      {
        tell: "remember that my passport is in the top drawer",
        fact: "my passport is in the top drawer",
        ask: "where is my passport",
      },
      {
        tell: "remember my glasses are on the kitchen table",
        fact: "my glasses are on the kitchen table",
        ask: "where did i put my glasses",
      },
    ];
    for (const voice of VOICES) {
      for (const f of facts) {
        const known = memory.facts.length;
        await attempt(
          f.tell,
          voice,
          (r) =>
            r.intent === "remember" && memory.facts.length === known + 1 && memory.facts.at(-1) === f.fact,
        );
        // Typed when it was misheard, so that recall is judged on its own.
        if (memory.facts.at(-1) !== f.fact) await memory.remember(f.fact);
        await attempt(f.ask, voice, (r) => r.intent === "recall" && r.reply === `You told me: ${f.fact}.`);
      }
    }
    expectRight(facts[0]?.tell ?? "", 3);
    expectRight(facts[1]?.tell ?? "", 6);
    expectRight(facts[2]?.tell ?? "", 6);
    for (const f of facts) expectRight(f.ask, 6);
  }, 90_000);

  test("switch a device over the publish port", async () => {
    for (const voice of VOICES) {
      for (const state of ["on", "off"] as const) {
        const text = state === "on" ? "turn on the kitchen light" : "switch off the kitchen light";
        const before = published.length;
        await attempt(
          text,
          voice,
          (r) =>
            r.intent === "device.set" &&
            published.length === before + 1 &&
            published.at(-1)?.topic.includes("kitchen-light") === true &&
            JSON.parse(published.at(-1)?.payload ?? "{}").state === state,
        );
      }
    }
    expectRight("turn on the kitchen light", 3);
    expectRight("switch off the kitchen light", 4);
  }, 60_000);

  test("the commands above were mostly heard word for word", () => {
    const all = [...tally.values()];
    const exact = all.reduce((n, t) => n + t.exact, 0);
    const said = all.length * VOICES.length;
    console.log(`word for word: ${exact}/${said}`);
    // Measured 88–90 of 102 (4 runs): the slips listed at expectRight, and "turn on kitchen light"
    // without its "the" in 4–6 of 6 voices.
    expect(said).toBe(17 * VOICES.length);
    expect(exact).toBeGreaterThanOrEqual(85);
  });

  test("Home Assistant using the hub's speech services: transcribe, then synthesize", async () => {
    const ha = await connectWyoming({ host: "127.0.0.1", port: speechServer.port, log });
    const events = ha.events[Symbol.asyncIterator]();
    const next = async () => {
      const r = await Promise.race([events.next(), Bun.sleep(10_000).then(() => null)]);
      if (!r || r.done) throw new Error("the speech service did not answer");
      return r.value;
    };
    try {
      await ha.send(wyomingEvent("describe", {}));
      const info = readEvent(await next(), "info");
      expect(info?.asr[0]?.name).toBe("pocketsphinx");
      expect(info?.tts[0]?.voices.length).toBeGreaterThan(0);
      const wav = parseWav(spoken("what time is it"));
      if (!wav.ok) throw new Error(wav.reason);
      const format = { rate: wav.wav.sampleRate, width: 2, channels: 1 };
      await ha.send(wyomingEvent("transcribe", { language: "en" }));
      await ha.send(audioStart(format));
      const bytes = new Uint8Array(wav.wav.samples.buffer);
      for (let at = 0; at < bytes.length; at += 4096)
        await ha.send(audioChunk(format, bytes.subarray(at, at + 4096)));
      await ha.send(audioStop());
      expect(readEvent(await next(), "transcript")?.text).toBe("what time is it");
      await ha.send(wyomingEvent("synthesize", { text: "The kettle is on." }));
      const start = readEvent(await next(), "audio-start");
      expect(start?.width).toBe(2);
      const chunks: Uint8Array[] = [];
      for (let e = await next(); e.type !== "audio-stop"; e = await next()) {
        if (e.type === "audio-chunk" && e.payload) chunks.push(e.payload);
      }
      const all = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
      let at = 0;
      for (const c of chunks) {
        all.set(c, at);
        at += c.length;
      }
      expectAudible(new Int16Array(all.buffer), start?.rate ?? 0);
    } finally {
      ha.close();
    }
  }, 30_000);
});
