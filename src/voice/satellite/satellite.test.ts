// The satellite state machine with fakes at the hardware boundary, and its Wyoming server driven by a
// test client acting like Home Assistant over loopback TCP.
import { afterEach, describe, expect, test } from "bun:test";
import { createLogger } from "../../platform/log.ts";
import { createMuteFlag } from "../audio/ports.ts";
import {
  audioChunk,
  audioStart,
  audioStop,
  connectWyoming,
  readEvent,
  type WyomingEvent,
  wyomingEvent,
} from "../wyoming/index.ts";
import {
  createEnergyVad,
  createFiredWakeDetector,
  createRecordingSpeaker,
  createScriptedMicrophone,
  waitFor,
} from "./satellite.test-helper.ts";
import { createSatellite, type SatelliteActivity } from "./satellite.ts";
import { createSatelliteServer, satelliteInfo } from "./satellite-server.ts";
import { defaultSounds } from "./sounds.ts";

const log = createLogger({ level: "silent" });
const tone = (ms: number, level = 8000) => {
  const pcm = new Int16Array(ms * 16);
  for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(level * Math.sin((2 * Math.PI * 300 * i) / 16000));
  return { sampleRate: 16000, channels: 1 as const, samples: pcm };
};
const answerFormat = { rate: 22050, width: 2, channels: 1 };

function setup(extra: { stopWords?: string[]; playMs?: number } = {}) {
  const muteFlag = createMuteFlag();
  const mic = createScriptedMicrophone({ speed: 25, muteFlag });
  const speaker = createRecordingSpeaker(extra.playMs ?? 0);
  const wake = createFiredWakeDetector(["hey_kiana", "stop"]);
  const activity: SatelliteActivity[] = [];
  const sent: WyomingEvent[] = [];
  const satellite = createSatellite({
    mic,
    speaker,
    muteFlag,
    wake,
    vad: createEnergyVad(),
    wakeWords: [{ name: "hey_kiana", pipeline: "english" }],
    stopWords: extra.stopWords,
    log,
    onActivity: (a) => activity.push(a),
  });
  const running = satellite.run();
  const made = { mic, speaker, wake, activity, sent, satellite, running, muteFlag };
  current = made;
  return made;
}
type Setup = ReturnType<typeof setup>;
let current: Setup | null = null;
afterEach(async () => {
  current?.mic.close();
  await current?.running;
  current = null;
});

async function answer(s: Setup, samples = 2205) {
  await s.satellite.receive(wyomingEvent("transcript", { text: "what time is it" }));
  await s.satellite.receive(wyomingEvent("synthesize", { text: "It is noon." }));
  await s.satellite.receive(audioStart(answerFormat));
  const pcm = new Int16Array(samples).fill(1200);
  await s.satellite.receive(audioChunk(answerFormat, new Uint8Array(pcm.buffer)));
  return s.satellite.receive(audioStop());
}

describe("satellite", () => {
  test("wake word → utterance streamed until the VAD ends it → answer played → listening again", async () => {
    const s = setup();
    expect(s.satellite.state).toBe("paused");
    s.satellite.attach(async (e) => void s.sent.push(e));
    expect(s.satellite.state).toBe("wake");
    s.wake.fire("hey_kiana");
    await s.mic.say(tone(600));
    await waitFor(() => s.satellite.state === "answering", "the utterance to end");
    const types = s.sent.map((e) => e.type);
    expect(types.slice(0, 3)).toEqual(["run-pipeline", "detection", "audio-start"]);
    expect(s.sent[0]?.data).toMatchObject({
      start_stage: "asr",
      wake_word_name: "hey_kiana",
      pipeline_name: "english",
    });
    expect(types).toContain("voice-started");
    expect(types.slice(-2)).toEqual(["voice-stopped", "audio-stop"]);
    // The whole tone went out: 600 ms is 7.5 chunks of 80 ms.
    const streamed = s.sent.filter((e) => e.type === "audio-chunk").length;
    expect(streamed).toBeGreaterThanOrEqual(8);
    await answer(s);
    expect(s.speaker.plays.map((p) => p.opts.sampleRate)).toEqual([22050]);
    expect(s.sent.at(-1)?.type).toBe("played");
    expect(s.satellite.state).toBe("wake");
    expect(s.activity.filter((a) => a.type === "transcript")).toEqual([
      { type: "transcript", text: "what time is it" },
    ]);
  });

  test("no speech after the wake word ends the utterance without voice-stopped", async () => {
    const s = setup();
    s.satellite.attach(async (e) => void s.sent.push(e));
    s.satellite.trigger("hey_kiana");
    await waitFor(() => s.satellite.state === "answering", "the no-speech limit", 8000);
    expect(s.activity).toContainEqual(
      expect.objectContaining({ type: "utterance-end", reason: "no-speech" }),
    );
    expect(s.sent.map((e) => e.type)).not.toContain("voice-stopped");
  });

  test("a stop word cuts the answer; the rest of that answer is not played", async () => {
    const s = setup({ stopWords: ["stop"], playMs: 5000 });
    s.satellite.attach(async (e) => void s.sent.push(e));
    s.satellite.trigger();
    await s.mic.say(tone(300));
    await waitFor(() => s.satellite.state === "answering", "the utterance to end");
    await s.satellite.receive(audioStart(answerFormat));
    await s.satellite.receive(audioChunk(answerFormat, new Uint8Array(4410)));
    s.wake.fire("stop");
    await waitFor(() => s.speaker.stops > 0, "the speaker to stop");
    expect(s.satellite.state).toBe("wake");
    await s.satellite.receive(audioChunk(answerFormat, new Uint8Array(4410)));
    await s.satellite.receive(audioStop());
    expect(s.speaker.plays).toHaveLength(1);
    expect(s.sent.map((e) => e.type)).not.toContain("played");
  });

  test("without a server a wake word starts nothing, and a server leaving mid-utterance pauses", async () => {
    const s = setup();
    s.wake.fire("hey_kiana");
    await Bun.sleep(20);
    expect(s.satellite.state).toBe("paused");
    const detach = s.satellite.attach(async (e) => void s.sent.push(e));
    s.satellite.trigger();
    await waitFor(() => s.satellite.state === "streaming", "streaming");
    detach();
    expect(s.satellite.state).toBe("paused");
    expect(s.activity).toContainEqual({ type: "cancelled", reason: "server gone" });
  });

  test("its own sounds play with the microphone muted", async () => {
    const muteFlag = createMuteFlag();
    const speaker = createRecordingSpeaker(100);
    const mic = createScriptedMicrophone({ speed: 25, muteFlag });
    const sounds = defaultSounds();
    const satellite = createSatellite({ mic, speaker, muteFlag, sounds, log, tailMs: 10 });
    const running = satellite.run();
    satellite.attach(async () => {});
    satellite.trigger();
    await waitFor(() => speaker.plays.length === 1, "the awake sound");
    expect(speaker.plays[0]?.pcm).toBe(sounds.awake as Int16Array);
    expect(muteFlag.muted).toBe(true);
    await waitFor(() => !muteFlag.muted, "the mute flag to drop", 2000);
    mic.close();
    await running;
  });
});

describe("satellite server", () => {
  test("a Home Assistant-like client: describe → info, run-satellite, then the utterance flows to it", async () => {
    const mic = createScriptedMicrophone({ speed: 20 });
    const speaker = createRecordingSpeaker();
    const satellite = createSatellite({ mic, speaker, vad: createEnergyVad(), log });
    const running = satellite.run();
    const info = satelliteInfo({ name: "kitchen", area: "Kitchen", wakeWords: ["hey_kiana"], hasVad: true });
    const server = createSatelliteServer({ satellite, info: () => info, host: "127.0.0.1", port: 0, log });
    const ha = await connectWyoming({ host: "127.0.0.1", port: server.port, log });
    const events = ha.events[Symbol.asyncIterator]();
    const next = async (type: string) => {
      for (;;) {
        const n = await Promise.race([events.next(), Bun.sleep(5000).then(() => null)]);
        if (!n || n.done) throw new Error(`no ${type} from the satellite`);
        if (n.value.type === type) return n.value;
      }
    };
    try {
      await ha.send(wyomingEvent("describe", {}));
      const described = readEvent(await next("info"), "info");
      expect(described?.satellite).toMatchObject({ name: "kitchen", has_vad: true, supports_trigger: true });
      await ha.send(wyomingEvent("run-satellite", {}));
      await waitFor(() => satellite.state === "wake", "the satellite to run");
      satellite.trigger("hey_kiana");
      await mic.say(tone(500));
      expect(readEvent(await next("run-pipeline"), "run-pipeline")?.wake_word_name).toBe("hey_kiana");
      await next("audio-stop");
      await ha.send(wyomingEvent("transcript", { text: "hello" }));
      await ha.send(audioStart(answerFormat));
      await ha.send(audioChunk(answerFormat, new Uint8Array(882)));
      await ha.send(audioStop());
      await next("played");
      expect(speaker.plays).toHaveLength(1);
      // A second client that only describes does not take the satellite away.
      const probe = await connectWyoming({ host: "127.0.0.1", port: server.port, log });
      await probe.send(wyomingEvent("describe", {}));
      probe.close();
      ha.close();
      await waitFor(() => satellite.state === "paused", "the satellite to pause when its server leaves");
    } finally {
      ha.close();
      await server.close();
      mic.close();
      await running;
    }
  });
});
