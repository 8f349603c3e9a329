// One satellite's conversation as the hub runs it: the utterance streamed in goes to speech-to-text,
// the transcript to the assistant, and the reply back as speech while it is synthesised. A streamed
// model answer is spoken sentence by sentence while the model still writes the rest.
import { describeError } from "../../errors.ts";
import { type Clock, systemClock } from "../../platform/clock.ts";
import type { Logger } from "../../platform/log.ts";
import type { SpeechToText, SttSession, TextToSpeech } from "../speech-ports.ts";
import {
  type AudioFormat,
  errorEvent,
  readEvent,
  type WyomingEvent,
  wyomingEvent,
} from "../wyoming/index.ts";
import { createSentenceStream, type SentenceStream } from "./sentence-stream.ts";
import { chunkToVoicePcm, streamSpeech } from "./speech-stream.ts";

/** What the hub needs of the assistant (src/assistant's Assistant fits). */
export interface HubAssistant {
  /** `onText` hears a model's answer piece by piece; `ok` false with pieces heard means it failed. */
  handle(
    text: string,
    opts?: { onText?: (chunk: string) => void },
  ): Promise<{ intent: string | null; reply: string; ok?: boolean }>;
  timers?(): readonly { name: string; durationMs: number; remainingMs: number }[];
}

/** One utterance as the hub saw it, for logs, tests and the benchmark. */
export interface UtteranceResult {
  satellite: string;
  pipeline: string;
  transcript: string;
  intent: string | null;
  reply: string;
  /** Monotonic ms: end of audio → transcript, → reply, → first answer audio sent. */
  sttMs: number;
  assistantMs: number;
  firstAudioMs: number;
  error?: string;
}

export interface SatelliteSessionOptions {
  /** The satellite's name, for logs and timer announcements. */
  satellite: string;
  send(event: WyomingEvent): Promise<unknown>;
  stt: SpeechToText;
  tts: TextToSpeech;
  assistant: HubAssistant;
  /** TTS voice per pipeline name; `voice` for the rest. */
  voices?: Readonly<Record<string, string>>;
  voice?: string;
  log: Logger;
  clock?: Clock;
  /** A timer this satellite's utterance started, so its ring is announced here. */
  onTimerStarted?(name: string): void;
  onResult?(result: UtteranceResult): void;
}

export interface SatelliteSession {
  /** Events from the satellite, in order; the synchronous part of each runs before the next. */
  receive(event: WyomingEvent): Promise<void>;
  /** Says `text` on the satellite, e.g. a timer that rang. */
  announce(text: string, timerId?: string): Promise<void>;
  close(): void;
}

export const NOT_HEARD = "Sorry, I did not catch that.";

export function createSatelliteSession(opts: SatelliteSessionOptions): SatelliteSession {
  const { stt, tts, assistant, log, send } = opts;
  const clock = opts.clock ?? systemClock;
  let current: { stt: SttSession; format: AudioFormat; pipeline: string } | null = null;
  let speaking: AbortController | null = null;

  const voiceFor = (pipeline: string) => opts.voices?.[pipeline] ?? opts.voice;

  /** Speaks `text` as one answer; resolves with the monotonic time its audio started, or -1. */
  async function speak(text: string | SentenceStream, pipeline: string): Promise<number> {
    speaking?.abort();
    const abort = new AbortController();
    speaking = abort;
    let first = -1;
    // The satellite is told what is said; of a streamed answer only the first sentence is known yet.
    let told = false;
    const tell = (sentence: string) => {
      if (told) return;
      told = true;
      return send(wyomingEvent("synthesize", { text: sentence }));
    };
    if (typeof text === "string") await tell(text);
    await streamSpeech(
      tts,
      text,
      (event) => {
        if (first < 0 && event.type === "audio-start") first = clock.monotonic();
        return send(event);
      },
      { voice: voiceFor(pipeline), signal: abort.signal, onSentence: tell },
    );
    if (speaking === abort) speaking = null;
    return first;
  }

  /** Timers this utterance started or restarted: new names, or more time left than before. */
  function startedTimers(before: ReadonlyMap<string, number>): { name: string; durationMs: number }[] {
    return (assistant.timers?.() ?? []).filter((t) => (before.get(t.name) ?? -1) < t.remainingMs);
  }

  async function answer(run: NonNullable<typeof current>) {
    const endAt = clock.monotonic();
    const result: UtteranceResult = {
      satellite: opts.satellite,
      pipeline: run.pipeline,
      transcript: "",
      intent: null,
      reply: "",
      sttMs: 0,
      assistantMs: 0,
      firstAudioMs: 0,
    };
    try {
      const transcript = await run.stt.finish();
      result.transcript = transcript.text;
      result.sttMs = clock.monotonic() - endAt;
      await send(wyomingEvent("transcript", { text: transcript.text }));
      const before = new Map((assistant.timers?.() ?? []).map((t) => [t.name, t.remainingMs]));
      // Started by the first piece of a streamed answer, so its first sentence plays while the rest
      // is generated; an intent's reply calls no onText and is spoken whole, after its timers.
      const live: { stream?: { sentences: SentenceStream; spoken: Promise<number> } } = {};
      const onText = (chunk: string) => {
        if (!live.stream) {
          const sentences = createSentenceStream();
          const spoken = speak(sentences, run.pipeline);
          // Awaited below, once the answer is complete; until then a failure must not go unhandled.
          spoken.catch(() => {});
          live.stream = { sentences, spoken };
        }
        live.stream.sentences.push(chunk);
      };
      let ok = true;
      if (transcript.text.trim()) {
        const handled = await assistant.handle(transcript.text, { onText });
        result.intent = handled.intent;
        result.reply = handled.reply;
        ok = handled.ok !== false;
      } else {
        result.reply = NOT_HEARD;
      }
      result.assistantMs = clock.monotonic() - endAt;
      const stream = live.stream;
      if (stream) {
        // A model that failed part-way: what was said stands, and the assistant's apology follows.
        if (ok) stream.sentences.end();
        else stream.sentences.abandon(result.reply);
        const first = await stream.spoken;
        result.reply = stream.sentences.said.join(" ");
        result.firstAudioMs = first < 0 ? result.assistantMs : first - endAt;
      }
      for (const timer of startedTimers(before)) {
        opts.onTimerStarted?.(timer.name);
        const total_seconds = Math.round(timer.durationMs / 1000);
        await send(wyomingEvent("timer-started", { id: timer.name, name: timer.name, total_seconds }));
      }
      if (!stream) {
        const first = await speak(result.reply, run.pipeline);
        result.firstAudioMs = first < 0 ? result.assistantMs : first - endAt;
      }
    } catch (err) {
      result.error = describeError(err);
      log.error({ satellite: opts.satellite, err: result.error }, "voice pipeline failed");
      await send(errorEvent(`the hub could not answer: ${result.error}`, "pipeline-failed"));
    }
    log.info(
      {
        satellite: opts.satellite,
        transcript: result.transcript,
        intent: result.intent,
        sttMs: result.sttMs,
      },
      "utterance answered",
    );
    opts.onResult?.(result);
  }

  return {
    async receive(event) {
      switch (event.type) {
        case "run-pipeline": {
          const run = readEvent(event, "run-pipeline");
          if (!run) return;
          current?.stt.cancel();
          const named = event.data.pipeline_name;
          const pipeline = typeof named === "string" ? named : (run.wake_word_name ?? "default");
          current = { stt: stt.start(), format: { rate: 16000, width: 2, channels: 1 }, pipeline };
          return;
        }
        case "audio-start": {
          const f = readEvent(event, "audio-start");
          if (current && f) current.format = { rate: f.rate, width: f.width, channels: f.channels };
          return;
        }
        case "audio-chunk": {
          if (!current) return;
          const pcm = chunkToVoicePcm(event.payload, current.format);
          if (typeof pcm === "string") {
            log.warn({ satellite: opts.satellite, problem: pcm }, "satellite audio refused");
            current.stt.cancel();
            current = null;
            await send(errorEvent(pcm, "bad-audio"));
            return;
          }
          current.stt.write(pcm);
          return;
        }
        case "audio-stop": {
          const run = current;
          current = null;
          if (run) await answer(run);
          return;
        }
        case "played":
          log.debug({ satellite: opts.satellite }, "answer played");
          return;
        default:
      }
    },
    async announce(text, timerId) {
      try {
        if (timerId !== undefined) await send(wyomingEvent("timer-finished", { id: timerId }));
        await speak(text, "default");
      } catch (err) {
        log.warn({ satellite: opts.satellite, err: describeError(err) }, "announcement failed");
      }
    },
    close() {
      current?.stt.cancel();
      current = null;
      speaking?.abort();
    },
  };
}
