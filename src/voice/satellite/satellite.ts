import { systemClock } from "../../platform/clock.ts";
import { VOICE_SAMPLE_RATE } from "../audio/pcm.ts";
import type { PlayOutcome } from "../audio/ports.ts";
import {
  audioChunk,
  audioStart,
  audioStop,
  readEvent,
  type WyomingEvent,
  wyomingEvent,
} from "../wyoming/index.ts";
import type {
  Satellite,
  SatelliteActivity,
  SatelliteOptions,
  SatelliteState,
  SendEvent,
  UtteranceEnd,
} from "./satellite-types.ts";
import { NO_SOUNDS } from "./sounds.ts";
import { createWakeLearner } from "./wake-learner.ts";

export type {
  Satellite,
  SatelliteActivity,
  SatelliteOptions,
  SatelliteState,
  SendEvent,
  UtteranceEnd,
  WakeExampleSink,
  WakeExampleSource,
  WakeStats,
  WakeVerdict,
  WakeWordBinding,
} from "./satellite-types.ts";

const MIC_FORMAT = { rate: VOICE_SAMPLE_RATE, width: 2, channels: 1 } as const;
const bytesOf = (pcm: Int16Array) => new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength);

export function createSatellite(opts: SatelliteOptions): Satellite {
  const { mic, speaker, log } = opts;
  const clock = opts.clock ?? systemClock;
  const sounds = opts.sounds ?? NO_SOUNDS;
  const wake = opts.wake ?? null;
  const vad = opts.vad ?? null;
  const stopWords = new Set(opts.stopWords ?? []);
  const pipelines = new Map((opts.wakeWords ?? []).map((w) => [w.name, w.pipeline ?? w.name]));
  const maxUtteranceMs = opts.maxUtteranceMs ?? 15_000;
  const noSpeechMs = opts.noSpeechMs ?? 5000;
  const refractoryMs = opts.refractoryMs ?? 1000;
  const tailMs = opts.tailMs ?? 200;
  let state: SatelliteState = "paused";
  let send: SendEvent | null = null;
  let micMs = 0;
  let quietUntilMs = 0;
  let pendingTrigger: string | null = null;
  let utterance: { startMs: number; speech: boolean } | null = null;
  let answer: { rate: number; channels: 1 | 2; plays: Promise<PlayOutcome>[]; release: () => void } | null =
    null;
  /** After a cancel, the rest of that answer's audio is dropped up to its audio-stop. */
  let dropping = false;
  let cancelAnswerTimer = () => {};
  const emit = (a: SatelliteActivity) => opts.onActivity?.(a);
  const learner = createWakeLearner({ ...opts, emit });
  const setState = (next: SatelliteState) => {
    if (next === state) return;
    state = next;
    emit({ type: "state", state });
  };
  const out = async (event: WyomingEvent) => {
    await send?.(event);
  };

  /** Own sounds play with the microphone muted, so the wake word model never hears them. */
  async function cue(pcm: Int16Array | null): Promise<void> {
    if (!pcm) return;
    const release = opts.muteFlag?.hold() ?? (() => {});
    try {
      await speaker.play(pcm);
    } finally {
      clock.setTimeout(release, tailMs);
    }
  }

  function listen() {
    cancelAnswerTimer();
    utterance = null;
    answer?.release();
    answer = null;
    learner.drop();
    if (state !== "paused") quietUntilMs = micMs + refractoryMs;
    // Audio of the last utterance must not complete a wake word now.
    wake?.reset();
    setState(send ? "wake" : "paused");
  }

  /** `window`: the detector's, when a wake word (not a trigger) started it. */
  async function begin(name: string, atMs: number, window?: Float32Array) {
    if (!send) {
      log.info({ wakeWord: name }, "wake word heard, but no server runs this satellite");
      return;
    }
    const pipeline = pipelines.get(name) ?? name;
    utterance = { startMs: atMs, speech: false };
    learner.heard(window);
    dropping = false;
    vad?.reset();
    setState("streaming");
    emit({ type: "wake", name, pipeline, atMs });
    void cue(sounds.awake);
    const run = wyomingEvent("run-pipeline", {
      start_stage: "asr",
      end_stage: "tts",
      wake_word_name: name,
      restart_on_end: false,
    });
    // Not a Wyoming field: our hub picks the pipeline by it; Home Assistant ignores it.
    await out({ ...run, data: { ...run.data, pipeline_name: pipeline } });
    await out(wyomingEvent("detection", { name, timestamp: atMs }));
    await out(audioStart(MIC_FORMAT, atMs));
  }

  async function end(reason: UtteranceEnd, atMs: number) {
    if (state !== "streaming") return;
    const spoke = utterance?.speech ?? false;
    utterance = null;
    setState("answering");
    emit({ type: "utterance-end", reason, atMs });
    // The wake word was heard, then nothing was said: a false wake.
    if (reason === "no-speech") learner.label(0);
    cancelAnswerTimer = clock.setTimeout(() => {
      log.warn("no answer from the server in time");
      emit({ type: "error", text: "no answer in time" });
      listen();
    }, opts.answerTimeoutMs ?? 30_000);
    if (spoke && reason === "speech-end") await out(wyomingEvent("voice-stopped", { timestamp: atMs }));
    await out(audioStop(atMs));
  }

  async function stream(chunk: Int16Array, atMs: number) {
    const u = utterance;
    if (!u) return;
    await out(audioChunk(MIC_FORMAT, bytesOf(chunk), atMs));
    for (const event of vad ? await vad.process(chunk) : []) {
      if (event.type === "speech-start" && !u.speech) {
        u.speech = true;
        emit({ type: "speech-start", atMs });
        await out(wyomingEvent("voice-started", { timestamp: atMs }));
      } else if (event.type === "speech-end" && u.speech) {
        return end("speech-end", atMs);
      }
    }
    const elapsed = atMs + (chunk.length * 1000) / VOICE_SAMPLE_RATE - u.startMs;
    if (elapsed >= maxUtteranceMs) return end("timeout", atMs);
    if (vad && !u.speech && elapsed >= noSpeechMs) return end("no-speech", atMs);
  }

  async function step(chunk: Int16Array, atMs: number) {
    if (state === "wake" && pendingTrigger !== null) {
      const name = pendingTrigger;
      pendingTrigger = null;
      return begin(name, atMs);
    }
    const listening = state === "wake" || (stopWords.size > 0 && state !== "paused");
    const detections = wake && listening ? await wake.process(chunk) : [];
    if (state !== "wake" && detections.some((d) => stopWords.has(d.name))) {
      // Cut off before it was understood: a false wake. After a transcript it is only "be quiet".
      learner.label(0);
      return cancel("stop word");
    }
    if (state === "streaming") return stream(chunk, atMs);
    const hit = detections.find((d) => !stopWords.has(d.name));
    if (state !== "wake" || !hit || atMs < quietUntilMs) return;
    const window = learner.verify(hit.name, atMs);
    if (window !== false) return begin(hit.name, atMs, window);
  }

  function cancel(reason: string) {
    if (state !== "streaming" && state !== "answering") return;
    log.info({ reason }, "utterance cancelled");
    const wasStreaming = state === "streaming";
    // The server still answers what it was sent; that answer must not play.
    dropping = true;
    speaker.stop();
    emit({ type: "cancelled", reason });
    listen();
    if (wasStreaming) void out(audioStop(micMs));
  }

  function onAudio(event: WyomingEvent) {
    if (event.type === "audio-start") {
      const f = readEvent(event, "audio-start");
      if (!f || dropping) return;
      // An answer or an announcement (a timer) while idle: both play the same way.
      if (state === "wake") setState("answering");
      answer?.release();
      const channels = f.channels === 2 ? 2 : 1;
      const release = stopWords.size ? () => {} : (opts.muteFlag?.hold() ?? (() => {}));
      answer = { rate: f.rate, channels, plays: [], release };
      return;
    }
    const f = readEvent(event, "audio-chunk");
    if (!f || !answer || dropping) return;
    if (f.width !== 2) {
      emit({ type: "error", text: `answer audio of width ${f.width} is not played` });
      return;
    }
    const payload = event.payload ?? new Uint8Array(0);
    // Copied: the payload may sit at an odd offset, which an Int16Array view cannot.
    const pcm = new Int16Array(payload.slice(0, payload.length - (payload.length % 2)).buffer);
    if (answer.plays.length === 0) {
      emit({ type: "answer-audio", rate: f.rate });
      // Servers that send no transcript: an answer means something was understood.
      learner.answered();
    }
    answer.plays.push(speaker.play(pcm, { sampleRate: f.rate, channels: answer.channels }));
  }

  async function finishAnswer() {
    const a = answer;
    if (dropping || !a) {
      dropping = false;
      return;
    }
    const outcomes = await Promise.all(a.plays);
    if (answer !== a) return;
    const ok = outcomes.every((o) => o.ok);
    emit({ type: "played", ok });
    await out(wyomingEvent("played", {}));
    listen();
    clock.setTimeout(a.release, tailMs);
    await cue(sounds.done);
  }

  return {
    get state() {
      return state;
    },
    get wakeStats() {
      return learner.stats;
    },
    attach(next) {
      send = next;
      if (state === "paused") listen();
      return () => {
        if (send !== next) return;
        cancel("server gone");
        send = null;
        setState("paused");
      };
    },
    async receive(event) {
      switch (event.type) {
        case "transcript": {
          const text = readEvent(event, "transcript")?.text ?? "";
          emit({ type: "transcript", text });
          learner.transcript(text);
          // The server's own VAD may end the utterance before ours does.
          if (state === "streaming") await end("transcript", micMs);
          return;
        }
        case "synthesize":
          emit({ type: "reply", text: readEvent(event, "synthesize")?.text ?? "" });
          return;
        case "audio-start":
        case "audio-chunk":
          return onAudio(event);
        case "audio-stop":
          return finishAnswer();
        case "error": {
          const text = readEvent(event, "error")?.text ?? "error";
          emit({ type: "error", text });
          log.warn({ text }, "the server reported an error");
          if (state === "answering" && !answer) listen();
          return;
        }
        case "timer-started":
        case "timer-updated":
        case "timer-cancelled":
        case "timer-finished": {
          const id = typeof event.data.id === "string" ? event.data.id : "";
          emit({ type: "timer", event: event.type, id });
          if (event.type === "timer-finished") await cue(sounds.timer);
          return;
        }
        default:
      }
    },
    trigger(name) {
      if (state !== "wake") return false;
      pendingTrigger = name ?? opts.wakeWords?.[0]?.name ?? "trigger";
      return true;
    },
    cancel,
    async run() {
      for await (const chunk of mic) {
        const atMs = micMs;
        micMs += (chunk.length * 1000) / VOICE_SAMPLE_RATE;
        try {
          await step(chunk, atMs);
        } catch (err) {
          log.error({ err: String(err) }, "satellite step failed");
          cancel("internal error");
        }
      }
      return mic.ended;
    },
  };
}
