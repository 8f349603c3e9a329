// The hub's speech-to-text and text-to-speech as Wyoming services, so Home Assistant can use them in
// its own pipelines: transcribe + audio → transcript, synthesize → audio.
import { describeError } from "../../errors.ts";
import type { Clock } from "../../platform/clock.ts";
import type { Logger } from "../../platform/log.ts";
import type { SpeechToText, SttSession, TextToSpeech } from "../speech-ports.ts";
import {
  type AudioFormat,
  createWyomingServer,
  errorEvent,
  type Info,
  readEvent,
  type WyomingConnection,
  type WyomingServer,
  wyomingEvent,
} from "../wyoming/index.ts";
import { chunkToVoicePcm, streamSpeech } from "./speech-stream.ts";

const SPHINX = { name: "CMU Sphinx", url: "https://cmusphinx.github.io" };
const ESPEAK = { name: "eSpeak NG", url: "https://github.com/espeak-ng/espeak-ng" };

export interface SpeechServerOptions {
  stt: SpeechToText;
  tts: TextToSpeech;
  /** Languages the recogniser's model and grammar cover. Default ["en"]. */
  languages?: readonly string[];
  host?: string;
  port: number;
  log: Logger;
  clock?: Clock;
}

/** espeak voice names carry their language first: "en-us", "en-gb-x-rp", "de". */
const languageOf = (voice: string) => voice.split(/[-+_]/)[0] ?? voice;

export function speechServiceInfo(stt: SpeechToText, tts: TextToSpeech, languages: readonly string[]): Info {
  const sttAttribution = stt.name.includes("sphinx") ? SPHINX : { name: stt.name, url: "" };
  const ttsAttribution = tts.name.includes("espeak") ? ESPEAK : { name: tts.name, url: "" };
  return {
    asr: [
      {
        name: stt.name,
        attribution: sttAttribution,
        installed: true,
        description: "kiana hub speech-to-text (the assistant's commands)",
        version: null,
        models: [
          {
            name: `${stt.name}-${languages[0] ?? "en"}`,
            attribution: sttAttribution,
            installed: true,
            languages: [...languages],
          },
        ],
      },
    ],
    tts: [
      {
        name: tts.name,
        attribution: ttsAttribution,
        installed: true,
        description: "kiana hub text-to-speech",
        version: null,
        voices: tts.voices.map((voice) => ({
          name: voice,
          attribution: ttsAttribution,
          installed: true,
          languages: [languageOf(voice)],
        })),
        supports_synthesize_streaming: false,
      },
    ],
    handle: [],
    intent: [],
    wake: [],
    mic: [],
    snd: [],
  };
}

interface ConnState {
  session: SttSession | null;
  format: AudioFormat;
}

export function createSpeechServer(opts: SpeechServerOptions): WyomingServer {
  const { stt, tts, log } = opts;
  const languages = opts.languages ?? ["en"];
  const states = new Map<WyomingConnection, ConnState>();
  const stateOf = (conn: WyomingConnection) => {
    let s = states.get(conn);
    if (!s) {
      s = { session: null, format: { rate: 16000, width: 2, channels: 1 } };
      states.set(conn, s);
    }
    return s;
  };

  async function onEvent(conn: WyomingConnection, event: import("../wyoming/index.ts").WyomingEvent) {
    const s = stateOf(conn);
    switch (event.type) {
      case "transcribe": {
        s.session?.cancel();
        s.session = stt.start({ language: readEvent(event, "transcribe")?.language });
        return;
      }
      case "audio-start": {
        const f = readEvent(event, "audio-start");
        if (f) s.format = { rate: f.rate, width: f.width, channels: f.channels };
        // Some clients stream without a transcribe first; the audio alone asks for a transcript.
        s.session ??= stt.start();
        return;
      }
      case "audio-chunk": {
        if (!s.session) return;
        const pcm = chunkToVoicePcm(event.payload, s.format);
        if (typeof pcm === "string") {
          s.session.cancel();
          s.session = null;
          await conn.send(errorEvent(pcm, "bad-audio"));
          return;
        }
        s.session.write(pcm);
        return;
      }
      case "audio-stop": {
        const session = s.session;
        s.session = null;
        if (!session) return;
        try {
          const { text } = await session.finish();
          await conn.send(wyomingEvent("transcript", { text, language: languages[0] }));
        } catch (err) {
          log.warn({ err: describeError(err) }, "transcription failed");
          await conn.send(errorEvent(`transcription failed: ${describeError(err)}`, "stt-failed"));
        }
        return;
      }
      case "synthesize": {
        const request = readEvent(event, "synthesize");
        if (!request) return conn.send(errorEvent("synthesize needs a text", "bad-request")).then(() => {});
        const voice =
          request.voice?.name && tts.voices.includes(request.voice.name) ? request.voice.name : undefined;
        try {
          await streamSpeech(tts, request.text, (e) => conn.send(e), { voice });
        } catch (err) {
          log.warn({ err: describeError(err) }, "synthesis failed");
          await conn.send(errorEvent(`synthesis failed: ${describeError(err)}`, "tts-failed"));
        }
        return;
      }
      default:
    }
  }

  return createWyomingServer({
    host: opts.host,
    port: opts.port,
    log,
    clock: opts.clock,
    info: () => speechServiceInfo(stt, tts, languages),
    onEvent,
    onDisconnect: (conn) => {
      states.get(conn)?.session?.cancel();
      states.delete(conn);
    },
  });
}
