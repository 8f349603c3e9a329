// Typed views of the Wyoming events our satellites, the hub and its speech services exchange.
// Raw events keep every field; a view picks the known ones, so unknown fields and types pass through.
import type { WyomingEvent } from "./framing.ts";
import { type AudioFormat, type Info, infoData, parseInfo } from "./info.ts";

export type PipelineStage = "wake" | "asr" | "intent" | "handle" | "tts";
/** In pipeline order: a run may not end before it starts. */
const STAGES: readonly PipelineStage[] = ["wake", "asr", "intent", "handle", "tts"];

type Empty = Record<string, never>;
export interface Timestamped {
  /** Milliseconds into the audio stream. */
  timestamp?: number;
}
export interface AudioStart extends AudioFormat, Timestamped {}
export interface AudioChunk extends AudioFormat, Timestamped {}
export interface RunPipeline {
  start_stage: PipelineStage;
  end_stage: PipelineStage;
  /** From a satellite: the wake word that started this run. */
  wake_word_name?: string;
  /** From a server, with start_stage "wake": the wake words to listen for. */
  wake_word_names?: string[];
  /** From a server, with start_stage "tts": what to say. */
  announce_text?: string;
  /** Always-on streaming satellites: run again when this run ends. */
  restart_on_end?: boolean;
}
export interface Transcribe {
  name?: string;
  language?: string;
  context?: Record<string, unknown>;
}
export interface Transcript {
  text: string;
  language?: string;
  context?: Record<string, unknown>;
}
export interface SynthesizeVoice {
  name?: string;
  language?: string;
  speaker?: string;
}
export interface Synthesize {
  text: string;
  voice?: SynthesizeVoice;
  context?: Record<string, unknown>;
}
export interface Detect {
  names?: string[];
}
export interface Detection extends Timestamped {
  name?: string;
  speaker?: string;
}
export interface PingText {
  /** Copied from ping to pong. */
  text?: string;
}
export interface ErrorData {
  text: string;
  code?: string;
}
export interface TimerStarted {
  id: string;
  total_seconds: number;
  name?: string;
  start_hours?: number;
  start_minutes?: number;
  start_seconds?: number;
  /** Run by the server when the timer finishes. */
  command?: { text: string; language?: string };
}
export interface TimerUpdated {
  id: string;
  is_active: boolean;
  total_seconds: number;
}

export interface EventDataMap {
  describe: Empty;
  info: Info;
  "run-satellite": Empty;
  "pause-satellite": Empty;
  "satellite-connected": Empty;
  "satellite-disconnected": Empty;
  "streaming-started": Empty;
  "streaming-stopped": Empty;
  "run-pipeline": RunPipeline;
  detect: Detect;
  detection: Detection;
  "not-detected": Empty;
  transcribe: Transcribe;
  transcript: Transcript;
  synthesize: Synthesize;
  "audio-start": AudioStart;
  "audio-chunk": AudioChunk;
  "audio-stop": Timestamped;
  "voice-started": Timestamped;
  "voice-stopped": Timestamped;
  played: Empty;
  ping: PingText;
  pong: PingText;
  error: ErrorData;
  "timer-started": TimerStarted;
  "timer-updated": TimerUpdated;
  "timer-cancelled": { id: string };
  "timer-finished": { id: string };
}
export type EventType = keyof EventDataMap;
export type KnownEvent = {
  [K in EventType]: { type: K; data: EventDataMap[K]; payload?: Uint8Array };
}[EventType];

// ---- Field specs: a field is required unless its kind ends in "?"; null reads as absent. ----
type Kind = "string" | "int" | "number" | "bool" | "strings" | "object" | "stage";
type Field = Kind | `${Kind}?` | { fields: Spec; optional?: boolean };
type Spec = Readonly<Record<string, Field>>;
type Obj = Record<string, unknown>;
type Reader = { fields: Spec; check?: (v: Obj) => string | null } | { read: (d: Obj) => Obj };

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const KINDS: Record<Kind, [string, (v: unknown) => boolean]> = {
  string: ["a string", (v) => typeof v === "string"],
  int: ["an integer", (v) => typeof v === "number" && Number.isSafeInteger(v)],
  number: ["a number", (v) => typeof v === "number" && Number.isFinite(v)],
  bool: ["true or false", (v) => typeof v === "boolean"],
  strings: ["a list of strings", (v) => Array.isArray(v) && v.every((s) => typeof s === "string")],
  object: ["an object", isObj],
  stage: [STAGES.join("|"), (v) => STAGES.includes(v as PipelineStage)],
};

function readFields(data: Obj, spec: Spec, path = ""): Obj | string {
  const out: Obj = {};
  for (const [key, field] of Object.entries(spec)) {
    const value = data[key];
    const optional = typeof field === "string" ? field.endsWith("?") : field.optional === true;
    if (value === undefined || value === null) {
      if (optional) continue;
      return `${path}${key} is required`;
    }
    if (typeof field === "object") {
      const inner = isObj(value)
        ? readFields(value, field.fields, `${path}${key}.`)
        : `${path}${key} must be an object`;
      if (typeof inner === "string") return inner;
      out[key] = inner;
      continue;
    }
    const [name, ok] = KINDS[field.replace("?", "") as Kind];
    if (!ok(value)) return `${path}${key} must be ${name}`;
    out[key] = value;
  }
  return out;
}

const AUDIO: Spec = { rate: "int", width: "int", channels: "int", timestamp: "number?" };
/** Plausible PCM only: a peer's format later sizes buffers and resampling. */
const checkAudio = (v: Obj) =>
  (v.rate as number) < 1000 || (v.rate as number) > 384_000
    ? "rate must be 1000-384000 Hz"
    : (v.width as number) < 1 || (v.width as number) > 4
      ? "width must be 1-4 bytes"
      : (v.channels as number) < 1 || (v.channels as number) > 16
        ? "channels must be 1-16"
        : null;
const checkStages = (v: Obj) =>
  STAGES.indexOf(v.end_stage as PipelineStage) < STAGES.indexOf(v.start_stage as PipelineStage)
    ? "end_stage comes before start_stage"
    : null;
const none = { fields: {} };
const stamp = { fields: { timestamp: "number?" } } as const;
const text = { fields: { text: "string?" } } as const;
const timerId = { fields: { id: "string" } } as const;

const READERS: { [K in EventType]: Reader } = {
  describe: none,
  info: { read: (d) => parseInfo(d) as unknown as Obj },
  "run-satellite": none,
  "pause-satellite": none,
  "satellite-connected": none,
  "satellite-disconnected": none,
  "streaming-started": none,
  "streaming-stopped": none,
  "run-pipeline": {
    fields: {
      start_stage: "stage",
      end_stage: "stage",
      wake_word_name: "string?",
      wake_word_names: "strings?",
      announce_text: "string?",
      restart_on_end: "bool?",
    },
    check: checkStages,
  },
  detect: { fields: { names: "strings?" } },
  detection: { fields: { name: "string?", timestamp: "number?", speaker: "string?" } },
  "not-detected": none,
  transcribe: { fields: { name: "string?", language: "string?", context: "object?" } },
  transcript: { fields: { text: "string", language: "string?", context: "object?" } },
  synthesize: {
    fields: {
      text: "string",
      voice: { fields: { name: "string?", language: "string?", speaker: "string?" }, optional: true },
      context: "object?",
    },
  },
  "audio-start": { fields: AUDIO, check: checkAudio },
  "audio-chunk": { fields: AUDIO, check: checkAudio },
  "audio-stop": stamp,
  "voice-started": stamp,
  "voice-stopped": stamp,
  played: none,
  ping: text,
  pong: text,
  error: { fields: { text: "string", code: "string?" } },
  "timer-started": {
    fields: {
      id: "string",
      total_seconds: "int",
      name: "string?",
      start_hours: "int?",
      start_minutes: "int?",
      start_seconds: "int?",
      command: { fields: { text: "string", language: "string?" }, optional: true },
    },
  },
  "timer-updated": { fields: { id: "string", is_active: "bool", total_seconds: "int" } },
  "timer-cancelled": timerId,
  "timer-finished": timerId,
};

export function isEventType(type: string): type is EventType {
  return Object.hasOwn(READERS, type);
}

export type ParsedEvent =
  | { kind: "known"; event: KnownEvent }
  | { kind: "unknown"; type: string }
  | { kind: "invalid"; type: EventType; problem: string };

/** Never throws; an event of a type we do not know is `unknown`, for the caller to ignore. */
export function parseEvent(event: WyomingEvent): ParsedEvent {
  const { type } = event;
  if (!isEventType(type)) return { kind: "unknown", type };
  const reader = READERS[type];
  let data: Obj | string;
  if ("read" in reader) {
    data = reader.read(event.data);
  } else {
    data = readFields(event.data, reader.fields);
    if (typeof data !== "string") data = reader.check?.(data) ?? data;
  }
  if (typeof data === "string") return { kind: "invalid", type, problem: `${type}: ${data}` };
  const known = { type, data } as KnownEvent;
  if (type === "audio-chunk") known.payload = event.payload ?? new Uint8Array(0);
  else if (event.payload) known.payload = event.payload;
  return { kind: "known", event: known };
}

/** The typed data of `event` when it is a valid `type`, else null: `readEvent(e, "transcript")?.text`. */
export function readEvent<K extends EventType>(event: WyomingEvent, type: K): EventDataMap[K] | null {
  if (event.type !== type) return null;
  const parsed = parseEvent(event);
  return parsed.kind === "known" ? (parsed.event.data as EventDataMap[K]) : null;
}

/** Typed constructor for every known event; undefined fields are left out. */
export function wyomingEvent<K extends EventType>(
  type: K,
  data: EventDataMap[K],
  payload?: Uint8Array,
): WyomingEvent {
  const raw = type === "info" ? infoData(data as Info) : (data as Obj);
  const clean: Obj = {};
  for (const [key, value] of Object.entries(raw)) if (value !== undefined) clean[key] = value;
  return payload && payload.length > 0 ? { type, data: clean, payload } : { type, data: clean };
}

export const audioStart = (format: AudioFormat, timestamp?: number) =>
  wyomingEvent("audio-start", { ...pickFormat(format), timestamp });
export const audioChunk = (format: AudioFormat, pcm: Uint8Array, timestamp?: number) =>
  wyomingEvent("audio-chunk", { ...pickFormat(format), timestamp }, pcm);
export const audioStop = (timestamp?: number) => wyomingEvent("audio-stop", { timestamp });
export const errorEvent = (text: string, code?: string) => wyomingEvent("error", { text, code });

function pickFormat(f: AudioFormat): AudioFormat {
  return { rate: f.rate, width: f.width, channels: f.channels };
}
