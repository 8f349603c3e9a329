// Voice as `kiana run` starts it: on a satellite the microphone, wake word, VAD and the Wyoming
// server Home Assistant or the hub drives; on a hub the links to satellites with the speech pipeline,
// and the speech services for Home Assistant. Everything is imported lazily, after /healthz answers.
import { existsSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import type { KianaConfig } from "../config/index.ts";
import { describeError } from "../errors.ts";
import type { HealthRegistry } from "../platform/health.ts";
import { capabilityLogger, type Logger } from "../platform/log.ts";

export interface VoiceService {
  readonly kind: "satellite" | "hub";
  stop(): Promise<void>;
}

interface VoiceDeps {
  health: HealthRegistry;
  log: Logger;
  /** onnxruntime, for the wake word and VAD models. */
  loadOnnx: () => Promise<unknown>;
  /** The knowledge chain, where the hub's assistant keeps remembered facts. */
  chain?: import("../assistant/index.ts").ChainFactsOptions;
  /**
   * FedAvg, when enabled: the released wake verifier filters detections, and heard detections become
   * labelled examples (embedding windows only) in this store. Without it (fedavg off) nothing is
   * verified or collected: examples are gathered only once the owner has chosen federated learning.
   */
  /** Sends device commands (the hub's MQTT connection); without it the assistant says it cannot. */
  publish?: (topic: string, payload: string) => Promise<void>;
  /** Answers what no intent matched: the language model (see voice-llm.ts). */
  llm?: import("../assistant/index.ts").LlmFallback;
  fedavg?: {
    verifier: () => ((window: Float32Array) => number) | null;
    examples: import("../fedavg/index.ts").ExampleStore;
  };
}

/** What runs here: `auto` follows the role; `on` on a plain node makes it a satellite. */
export function voiceKind(config: Readonly<KianaConfig>): "satellite" | "hub" | null {
  const { enabled } = config.voice;
  if (enabled === "off") return null;
  if (config.node.role === "hub") return "hub";
  if (config.node.role === "satellite" || enabled === "on") return "satellite";
  return null;
}

export async function startVoice(
  config: Readonly<KianaConfig>,
  deps: VoiceDeps,
): Promise<VoiceService | null> {
  const kind = voiceKind(config);
  if (!kind) return null;
  const log = capabilityLogger(deps.log, "voice");
  return kind === "hub" ? startHub(config, deps, log) : startSatelliteNode(config, deps, log);
}

async function startSatelliteNode(
  config: Readonly<KianaConfig>,
  deps: VoiceDeps,
  log: Logger,
): Promise<VoiceService> {
  const { health } = deps;
  const s = config.voice.satellite;
  const [alsa, ports, voice, advertise] = await Promise.all([
    import("../voice/audio/alsa.ts"),
    import("../voice/audio/ports.ts"),
    import("../voice/index.ts"),
    import("../voice/satellite/advertise.ts"),
  ]);
  const modelDir = s.modelDir || join(config.dataDir, "voice");
  const inModels = (p: string) => (isAbsolute(p) ? p : join(modelDir, p));
  // The speaker does not hold the flag itself: during answers the mic stays open for stop words.
  const muteFlag = ports.createMuteFlag();
  const mic = alsa.createAlsaMicrophone({ device: s.micDevice, chunkSamples: s.chunkMs * 16, muteFlag });
  const speaker = alsa.createAlsaSpeaker({ device: s.speakerDevice });
  let wake: import("../voice/wake/index.ts").OpenWakeWordDetector | null = null;
  let vad: import("../voice/speech-ports.ts").VoiceActivity | null = null;
  const wakeModule = await import("../voice/wake/index.ts");
  if (s.wakeWords.length === 0) {
    health.set({
      code: "VOICE_NO_WAKE_WORD",
      severity: "warning",
      message:
        "No wake word model is configured: the satellite starts only when Home Assistant or the hub triggers it.",
      hint: "Add a [[voice.satellite.wakeWords]] entry with an openWakeWord .onnx model.",
    });
  } else {
    try {
      const ort = (await deps.loadOnnx()) as import("../voice/wake/index.ts").OnnxModule;
      wake = await wakeModule.createWakeDetector({
        ort,
        melspectrogramPath: inModels("melspectrogram.onnx"),
        embeddingPath: inModels("embedding_model.onnx"),
        models: s.wakeWords.map((w) => ({ name: w.name, path: inModels(w.model), threshold: w.threshold })),
      });
      health.clear("VOICE_WAKE_WORD_FAILED");
    } catch (err) {
      health.set({
        code: "VOICE_WAKE_WORD_FAILED",
        severity: "error",
        message: `The wake word models could not be loaded: ${describeError(err)}`,
        hint: `Put melspectrogram.onnx, embedding_model.onnx and the wake word models in ${modelDir}.`,
      });
    }
  }
  const vadPath = inModels("silero_vad.onnx");
  if (existsSync(vadPath)) {
    try {
      const ort = (await deps.loadOnnx()) as import("../voice/wake/index.ts").OnnxModule;
      vad = await wakeModule.createVoiceActivity({ ort, path: vadPath });
    } catch (err) {
      log.warn({ err: describeError(err) }, "silero VAD not loaded; utterances end on the server's word");
    }
  }
  const detector = wake;
  const learning =
    deps.fedavg && detector
      ? (await import("../voice/satellite/wake-fedavg.ts")).createWakeFedavg(deps.fedavg)
      : undefined;
  if (learning)
    log.info({ collecting: learning.examples !== null }, "wake detections are verified by FedAvg");
  const satellite = voice.createSatellite({
    mic,
    speaker,
    muteFlag,
    wake,
    vad,
    wakeWords: s.wakeWords.map((w) => ({ name: w.name, pipeline: w.pipeline || undefined })),
    stopWords: s.stopWords,
    sounds: voice.defaultSounds(),
    log,
    wakeWindow: detector ? () => detector.embeddings() : undefined,
    verify: learning?.verify,
    examples: learning?.examples,
  });
  const info = voice.satelliteInfo({
    name: config.node.name,
    area: s.area || undefined,
    wakeWords: s.wakeWords.map((w) => w.name),
    hasVad: vad !== null,
  });
  const server = voice.createSatelliteServer({ satellite, info: () => info, port: config.voice.port, log });
  const advertiser = advertise.createWyomingAdvertiser({
    instance: config.node.name,
    hostname: `kiana-${config.node.name}`,
    port: server.port,
    log,
  });
  advertiser.start().catch((err) => log.warn({ err: describeError(err) }, "_wyoming._tcp not advertised"));
  void satellite.run().then((end) => {
    if (end.reason !== "failed") return;
    log.error({ detail: end.detail }, "the microphone failed");
    health.set({
      code: "VOICE_MIC_FAILED",
      severity: "error",
      message: `The microphone stopped: ${end.detail}`,
      hint: `Check voice.satellite.micDevice ("${s.micDevice}") with \`arecord -L\`, then restart kiana.`,
    });
  });
  return {
    kind: "satellite",
    async stop() {
      mic.close();
      speaker.stop();
      await Promise.all([advertiser.stop(), server.close(), wake?.dispose(), vad?.dispose()]);
    },
  };
}

async function startHub(config: Readonly<KianaConfig>, deps: VoiceDeps, log: Logger): Promise<VoiceService> {
  const h = config.voice.hub;
  const [assistantModule, stt, tts, voice, advertise] = await Promise.all([
    import("../assistant/index.ts"),
    import("../voice/stt/pocketsphinx.ts"),
    import("../voice/tts/index.ts"),
    import("../voice/index.ts"),
    import("../voice/satellite/advertise.ts"),
  ]);
  for (const [wanted, have] of [
    [h.stt, "pocketsphinx"],
    [h.tts, "espeak"],
  ] as const) {
    if (wanted === have) continue;
    deps.health.set({
      code: `VOICE_ENGINE_UNAVAILABLE:${wanted}`,
      severity: "warning",
      message: `${wanted} is not available in this build; ${have} is used instead.`,
    });
  }
  let hub: import("../voice/index.ts").VoiceHub | null = null;
  const assistant = assistantModule.createAssistant({
    facts: deps.chain ? assistantModule.createChainFacts(deps.chain) : assistantModule.createMemoryFacts(),
    devices: h.devices,
    publish: deps.publish,
    fleet: config.node.fleet,
    node: config.node.name,
    llm: deps.llm,
    speechWords: h.speechWords,
    onTimer: (e) => void hub?.timerRang(e.name, e.announcement),
  });
  const recogniser = stt.createPocketsphinxStt({ jsgf: () => assistant.grammar(), log });
  const speech = tts.createEspeakTts({ defaultVoice: h.voice });
  hub = voice.createVoiceHub({
    satellites: h.satellites,
    discover: h.discover,
    stt: recogniser,
    tts: speech,
    assistant,
    voice: h.voice,
    log,
  });
  const server = voice.createSpeechServer({ stt: recogniser, tts: speech, port: h.servicesPort, log });
  const advertiser = advertise.createWyomingAdvertiser({
    instance: `${config.node.name} speech`,
    hostname: `kiana-${config.node.name}`,
    port: server.port,
    log,
  });
  advertiser.start().catch((err) => log.warn({ err: describeError(err) }, "_wyoming._tcp not advertised"));
  return {
    kind: "hub",
    async stop() {
      assistant.close();
      await Promise.all([hub?.stop(), advertiser.stop(), server.close()]);
      recogniser.dispose();
    },
  };
}
