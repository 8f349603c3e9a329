// The `info` answer to `describe`: which speech services, models and satellite a peer offers.
// Home Assistant adopts a peer from this alone, so required fields are required in the types too.

export interface Attribution {
  name: string;
  url: string;
}

/** Home Assistant's reader fails on a missing `name`, `attribution` or `installed`. */
export interface Artifact {
  name: string;
  attribution: Attribution;
  installed: boolean;
  description?: string | null;
  version?: string | null;
}

export interface LanguageModel extends Artifact {
  languages: string[];
}

export interface WakeModel extends LanguageModel {
  phrase?: string | null;
}

export interface TtsVoice extends LanguageModel {
  speakers?: { name: string }[] | null;
}

export interface AudioFormat {
  rate: number;
  width: number;
  channels: number;
}

export interface AsrProgram extends Artifact {
  models: LanguageModel[];
}
export interface TtsProgram extends Artifact {
  voices: TtsVoice[];
  supports_synthesize_streaming?: boolean;
}
export interface WakeProgram extends Artifact {
  models: WakeModel[];
}
export interface HandleProgram extends Artifact {
  models: LanguageModel[];
}
export interface IntentProgram extends Artifact {
  models: LanguageModel[];
}
export interface MicProgram extends Artifact {
  mic_format: AudioFormat;
}
export interface SndProgram extends Artifact {
  snd_format: AudioFormat;
}

/** Its presence is what makes Home Assistant treat the peer as a satellite. */
export interface SatelliteInfo extends Artifact {
  area?: string | null;
  has_vad?: boolean | null;
  active_wake_words?: string[] | null;
  max_active_wake_words?: number | null;
  supports_trigger?: boolean | null;
}

export interface Info {
  asr: AsrProgram[];
  tts: TtsProgram[];
  handle: HandleProgram[];
  intent: IntentProgram[];
  wake: WakeProgram[];
  mic: MicProgram[];
  snd: SndProgram[];
  satellite?: SatelliteInfo;
}

/** Every list is written, even empty, as the Python reference does. */
export function infoData(info: Partial<Info>): Record<string, unknown> {
  const data: Record<string, unknown> = {
    asr: info.asr ?? [],
    tts: info.tts ?? [],
    handle: info.handle ?? [],
    intent: info.intent ?? [],
    wake: info.wake ?? [],
    mic: info.mic ?? [],
    snd: info.snd ?? [],
  };
  if (info.satellite) data.satellite = info.satellite;
  return data;
}

// A hostile `info` must not cost unbounded work.
const MAX_ENTRIES = 256;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const optString = (v: unknown) => (typeof v === "string" ? v : null);
const strings = (v: unknown) =>
  Array.isArray(v) ? v.slice(0, MAX_ENTRIES).filter((s): s is string => typeof s === "string") : [];

function list<T>(v: unknown, read: (item: Obj) => T | null): T[] {
  if (!Array.isArray(v)) return [];
  const out: T[] = [];
  for (const item of v.slice(0, MAX_ENTRIES)) {
    const parsed = isObj(item) ? read(item) : null;
    if (parsed) out.push(parsed);
  }
  return out;
}

function artifact(v: Obj): Artifact | null {
  const a = v.attribution;
  if (typeof v.name !== "string" || typeof v.installed !== "boolean") return null;
  if (!isObj(a) || typeof a.name !== "string" || typeof a.url !== "string") return null;
  return {
    name: v.name,
    attribution: { name: a.name, url: a.url },
    installed: v.installed,
    description: optString(v.description),
    version: optString(v.version),
  };
}

function audioFormat(v: unknown): AudioFormat | null {
  if (!isObj(v)) return null;
  const { rate, width, channels } = v;
  const ok = [rate, width, channels].every((n) => typeof n === "number" && Number.isInteger(n) && n > 0);
  return ok ? { rate: rate as number, width: width as number, channels: channels as number } : null;
}

function model(v: Obj): LanguageModel | null {
  const base = artifact(v);
  return base && { ...base, languages: strings(v.languages) };
}

function program<K extends string, M>(key: K, read: (item: Obj) => M | null) {
  return (v: Obj) => {
    const base = artifact(v);
    return base && ({ ...base, [key]: list(v[key], read) } as Artifact & Record<K, M[]>);
  };
}

const wakeModel = (v: Obj): WakeModel | null => {
  const base = model(v);
  return base && { ...base, phrase: optString(v.phrase) };
};

const ttsVoice = (v: Obj): TtsVoice | null => {
  const base = model(v);
  if (!base) return null;
  const speakers = Array.isArray(v.speakers)
    ? list(v.speakers, (s) => (typeof s.name === "string" ? { name: s.name } : null))
    : null;
  return { ...base, speakers };
};

function satellite(v: unknown): SatelliteInfo | undefined {
  const base = isObj(v) ? artifact(v) : null;
  if (!base || !isObj(v)) return undefined;
  const max = v.max_active_wake_words;
  return {
    ...base,
    area: optString(v.area),
    has_vad: typeof v.has_vad === "boolean" ? v.has_vad : null,
    active_wake_words: Array.isArray(v.active_wake_words) ? strings(v.active_wake_words) : null,
    max_active_wake_words: typeof max === "number" && Number.isInteger(max) ? max : null,
    supports_trigger: typeof v.supports_trigger === "boolean" ? v.supports_trigger : null,
  };
}

/** Lenient, like the reference: entries missing required fields are dropped, unknown keys ignored. */
export function parseInfo(data: Record<string, unknown>): Info {
  const tts = list(data.tts, (v) => {
    const base = program("voices", ttsVoice)(v);
    return base && { ...base, supports_synthesize_streaming: v.supports_synthesize_streaming === true };
  });
  const withFormat = <K extends "mic_format" | "snd_format">(key: K) =>
    list(data[key === "mic_format" ? "mic" : "snd"], (v) => {
      const base = artifact(v);
      const format = audioFormat(v[key]);
      return base && format ? ({ ...base, [key]: format } as Artifact & Record<K, AudioFormat>) : null;
    });
  const info: Info = {
    asr: list(data.asr, program("models", model)),
    tts,
    handle: list(data.handle, program("models", model)),
    intent: list(data.intent, program("models", model)),
    wake: list(data.wake, program("models", wakeModel)),
    mic: withFormat("mic_format"),
    snd: withFormat("snd_format"),
  };
  const sat = satellite(data.satellite);
  if (sat) info.satellite = sat;
  return info;
}
