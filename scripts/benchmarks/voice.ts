// Voice benchmark: end of speech → first answer audio at the satellite over loopback Wyoming (p50,
// p95) against the hub's own pipeline time as the baseline; wake word + VAD real-time factor; RSS of
// a satellite process listening to a microphone. Usage: scripts/bench voice [--utterances 50]
import { parseArgs } from "node:util";
import { createAssistant, createMemoryFacts } from "../../src/assistant/index.ts";
import { createLogger } from "../../src/platform/log.ts";
import { encodeWav } from "../../src/voice/audio/wav.ts";
import { createVoiceHub } from "../../src/voice/hub/hub.ts";
import type { UtteranceResult } from "../../src/voice/hub/satellite-session.ts";
import {
  createRecordingSpeaker,
  createScriptedMicrophone,
  waitFor,
} from "../../src/voice/satellite/satellite.test-helper.ts";
import { createSatellite, type SatelliteActivity } from "../../src/voice/satellite/satellite.ts";
import { createSatelliteServer, satelliteInfo } from "../../src/voice/satellite/satellite-server.ts";
import { createPocketsphinxStt } from "../../src/voice/stt/pocketsphinx.ts";
import { createEspeakTts } from "../../src/voice/tts/index.ts";
import { createSpeaker } from "../../src/voice/wake/espeak.test-helper.ts";
import { createVoiceActivity } from "../../src/voice/wake/silero-vad.ts";
import { benchAudio, devModels, formatCosts, measureWakeVad } from "./voice-wake.ts";

const PHRASES = [
  "what time is it",
  "what is the date today",
  "turn on the kitchen light",
  "how much time is left",
];
const VOICES = ["en-us", "en-gb", "en-us+f3"];
const log = createLogger({ level: "silent" });

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};

/** A satellite as a device runs it, minus the sound card: Silero VAD, wake detector, Wyoming server. */
async function satelliteChild(): Promise<void> {
  const ort = await import("onnxruntime-node");
  const models = devModels();
  const { createWakeDetector } = await import("../../src/voice/wake/open-wake-word.ts");
  const wake = await createWakeDetector({
    ort,
    melspectrogramPath: models.melspectrogram,
    embeddingPath: models.embedding,
    models: models.wake,
  });
  const vad = await createVoiceActivity({ ort, path: models.vad });
  const mic = createScriptedMicrophone({ speed: 1 });
  const satellite = createSatellite({ mic, speaker: createRecordingSpeaker(), wake, vad, log });
  const info = satelliteInfo({ name: "bench", wakeWords: ["hey_jarvis"], hasVad: true });
  const server = createSatelliteServer({ satellite, info: () => info, host: "127.0.0.1", port: 0, log });
  void satellite.run();
  await Bun.sleep(8000);
  process.stdout.write(`${JSON.stringify({ rss: process.memoryUsage().rss })}\n`);
  mic.close();
  await server.close();
  process.exit(0);
}

async function latency(utterances: number) {
  const ort = await import("onnxruntime-node");
  const assistant = createAssistant({
    facts: createMemoryFacts(),
    devices: [{ id: "kl", name: "kitchen light" }],
  });
  const stt = createPocketsphinxStt({ jsgf: () => assistant.grammar() });
  const tts = createEspeakTts();
  const mic = createScriptedMicrophone({ speed: 4 });
  const activity: (SatelliteActivity & { at: number })[] = [];
  const results: UtteranceResult[] = [];
  const vad = await createVoiceActivity({ ort, path: devModels().vad });
  const satellite = createSatellite({
    mic,
    speaker: createRecordingSpeaker(),
    vad,
    log,
    onActivity: (a) => activity.push({ ...a, at: performance.now() }),
  });
  const running = satellite.run();
  const info = satelliteInfo({ name: "bench", wakeWords: [], hasVad: true });
  const server = createSatelliteServer({ satellite, info: () => info, host: "127.0.0.1", port: 0, log });
  const hub = createVoiceHub({
    satellites: [`127.0.0.1:${server.port}`],
    stt,
    tts,
    assistant,
    log,
    onResult: (r) => results.push(r),
  });
  await waitFor(() => satellite.state === "wake", "the hub", 10_000);
  const speaker = createSpeaker();
  const satelliteMs: number[] = [];
  const hubMs: number[] = [];
  try {
    for (let i = 0; i < utterances; i++) {
      const pcm = speaker.say({
        text: PHRASES[i % PHRASES.length] as string,
        voice: VOICES[i % VOICES.length] as string,
        speed: 140 + (i % 3) * 15,
      });
      const from = activity.length;
      const hubFrom = results.length;
      satellite.trigger("bench");
      await mic.say(encodeWav({ sampleRate: 16000, channels: 1, samples: pcm }));
      await waitFor(() => activity.slice(from).some((a) => a.type === "played"), "an answer", 30_000);
      const end = activity.slice(from).find((a) => a.type === "utterance-end");
      const first = activity.slice(from).find((a) => a.type === "answer-audio");
      if (end && first) satelliteMs.push(first.at - end.at);
      const r = results[hubFrom];
      if (r) hubMs.push(r.firstAudioMs);
    }
  } finally {
    speaker.close();
    await hub.stop();
    await server.close();
    mic.close();
    await running;
    stt.dispose();
    assistant.close();
  }
  return { satelliteMs, hubMs };
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: { utterances: { type: "string", default: "50" }, "satellite-child": { type: "boolean" } },
  });
  if (values["satellite-child"]) {
    await satelliteChild();
  } else {
    const n = Number(values.utterances);
    const { satelliteMs, hubMs } = await latency(n);
    const child = Bun.spawn([process.execPath, import.meta.path, "--satellite-child"], { stdout: "pipe" });
    const rss = (JSON.parse((await new Response(child.stdout).text()).trim() || "{}") as { rss?: number })
      .rss;
    const costs = await measureWakeVad({
      ort: await import("onnxruntime-node"),
      audio: benchAudio(30).audio,
      models: devModels(),
    });
    const p50 = percentile(satelliteMs, 50);
    const base = percentile(hubMs, 50);
    console.log(`\nvoice benchmark (${satelliteMs.length}/${n} utterances answered)\n`);
    console.log("measure                                         p50 ms   p95 ms");
    console.log(
      `end of speech → first answer audio at satellite  ${p50.toFixed(0).padStart(6)}   ${percentile(satelliteMs, 95).toFixed(0).padStart(6)}`,
    );
    console.log(
      `baseline: hub pipeline (STT+assistant+TTS start)  ${base.toFixed(0).padStart(6)}   ${percentile(hubMs, 95).toFixed(0).padStart(6)}`,
    );
    console.log(`ratio satellite p50 / hub baseline p50: ${(p50 / base).toFixed(2)}`);
    console.log(`satellite RSS while listening: ${rss ? (rss / 2 ** 20).toFixed(1) : "?"} MiB\n`);
    console.log(formatCosts(costs));
    const both = costs.find((c) => c.stage === "wake+vad");
    if (both)
      console.log(
        `\nwake+VAD RTF ${both.rtf.toFixed(4)}: ${(1 / both.rtf).toFixed(1)}× faster than real time (ratio to 1)`,
      );
  }
}
