// The satellite's public shapes: its states, what it reports, and the options it is built from.
import type { Clock } from "../../platform/clock.ts";
import type { Logger } from "../../platform/log.ts";
import type { MicEnd, Microphone, MuteFlag, Speaker } from "../audio/ports.ts";
import type { VoiceActivity, WakeDetector } from "../speech-ports.ts";
import type { WyomingEvent } from "../wyoming/index.ts";
import type { SatelliteSounds } from "./sounds.ts";

export type SatelliteState = "paused" | "wake" | "streaming" | "answering";
export type UtteranceEnd = "speech-end" | "timeout" | "no-speech" | "transcript";

/** What the satellite did, for logs, tests and the benchmark; `atMs` is microphone time. */
export type SatelliteActivity =
  | { type: "state"; state: SatelliteState }
  | { type: "wake"; name: string; pipeline: string; atMs: number }
  | { type: "speech-start"; atMs: number }
  | { type: "utterance-end"; reason: UtteranceEnd; atMs: number }
  | { type: "transcript"; text: string }
  | { type: "reply"; text: string }
  | { type: "answer-audio"; rate: number }
  | { type: "played"; ok: boolean }
  | { type: "cancelled"; reason: string }
  | { type: "timer"; event: string; id: string }
  | { type: "error"; text: string };

export interface WakeWordBinding {
  name: string;
  /** Pipeline the server should run for this word; the word's own name when absent. */
  pipeline?: string;
}

export type SendEvent = (event: WyomingEvent) => Promise<unknown>;

export interface SatelliteOptions {
  mic: Microphone;
  speaker: Speaker;
  /** The flag the microphone reads: held while the satellite's own sounds play. */
  muteFlag?: MuteFlag;
  /** null: no wake word model; only `trigger` (or a server) starts an utterance. */
  wake?: WakeDetector | null;
  /** null: the utterance ends on the server's transcript or the time limit. */
  vad?: VoiceActivity | null;
  wakeWords?: readonly WakeWordBinding[];
  /** Wake words that cancel the current utterance or answer instead of starting one. */
  stopWords?: readonly string[];
  sounds?: SatelliteSounds;
  log: Logger;
  clock?: Clock;
  /** Longest utterance streamed. Default 15 s. */
  maxUtteranceMs?: number;
  /** Ends the utterance when no speech starts this long after the wake word. Default 5 s. */
  noSpeechMs?: number;
  /** Wait for the server's answer before giving up. Default 30 s. */
  answerTimeoutMs?: number;
  /** Wake words are ignored this long (microphone time) after an answer, against echo. Default 1 s. */
  refractoryMs?: number;
  /** The room's echo after a sound, while the microphone stays muted. Default 200 ms. */
  tailMs?: number;
  onActivity?(activity: SatelliteActivity): void;
}

export interface Satellite {
  readonly state: SatelliteState;
  /** A server sent run-satellite: events go to it now. Returns the detach for when it leaves. */
  attach(send: SendEvent): () => void;
  receive(event: WyomingEvent): Promise<void>;
  /** Starts an utterance at the next chunk as if `name` had been heard; false when not listening. */
  trigger(name?: string): boolean;
  cancel(reason: string): void;
  /** Consumes the microphone until it ends or is closed. */
  run(): Promise<MicEnd>;
}
