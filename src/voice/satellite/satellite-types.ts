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
  | { type: "wake-rejected"; name: string; score: number; atMs: number }
  | { type: "wake-example"; label: 0 | 1; source: WakeExampleSource }
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

/** The released verifier's word on one detection; the window is the detector's, 16 × 96 oldest first. */
export interface WakeVerdict {
  accept: boolean;
  score: number;
}

/** Why a detection became a training example: the user went on, or cut it off / said nothing. */
export type WakeExampleSource = "confirmed" | "cancelled";

/** Where labelled detections go: embedding windows only, never audio. */
export interface WakeExampleSink {
  add(window: Float32Array, label: 0 | 1, source: WakeExampleSource): void;
}

/** Counts since start, for logs and tests. */
export interface WakeStats {
  detected: number;
  rejected: number;
  confirmed: number;
  cancelled: number;
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
  /** The detector's embedding window at a detection (openWakeWord's `embeddings()`). */
  wakeWindow?: () => Float32Array;
  /**
   * Asked at each detection with `wakeWindow()`; undefined (no model released yet) accepts. Read per
   * detection, so a newly released model applies at once.
   */
  verify?: (window: Float32Array) => WakeVerdict | undefined;
  /** Receives each heard detection's window once its outcome labels it. */
  examples?: WakeExampleSink | null;
  onActivity?(activity: SatelliteActivity): void;
}

export interface Satellite {
  readonly state: SatelliteState;
  readonly wakeStats: Readonly<WakeStats>;
  /** A server sent run-satellite: events go to it now. Returns the detach for when it leaves. */
  attach(send: SendEvent): () => void;
  receive(event: WyomingEvent): Promise<void>;
  /** Starts an utterance at the next chunk as if `name` had been heard; false when not listening. */
  trigger(name?: string): boolean;
  cancel(reason: string): void;
  /** Consumes the microphone until it ends or is closed. */
  run(): Promise<MicEnd>;
}
