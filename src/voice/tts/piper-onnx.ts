// Text-to-speech with a Piper voice (VITS ONNX + its .onnx.json config): espeak-ng phonemes → ids →
// audio, sentence by sentence. UNVERIFIED: no Piper voice could be fetched here; the config check and
// the phoneme → id mapping are tested, the ONNX run below never ran against a real voice.
import { readFileSync } from "node:fs";
import type * as Ort from "onnxruntime-node";
import { describeError, kianaError } from "../../errors.ts";
import type { SpeechAudio, TextToSpeech } from "../speech-ports.ts";
import { bunSpawn, resolveBinary, type SpawnFn } from "../stt/child.ts";
import { splitSentences } from "./sentences.ts";

export interface PiperConfig {
  sampleRate: number;
  espeakVoice: string;
  /** [noise_scale, length_scale, noise_w], the `scales` input. */
  scales: [number, number, number];
  phonemeIdMap: ReadonlyMap<string, readonly number[]>;
  numSpeakers: number;
}

/** Checks a voice's .onnx.json; the reason names the first field that is wrong. */
export function parsePiperConfig(
  json: unknown,
): { ok: true; config: PiperConfig } | { ok: false; reason: string } {
  const o = json as Record<string, Record<string, unknown> | undefined>;
  const fail = (reason: string) => ({ ok: false as const, reason });
  const rate = o?.audio?.sample_rate;
  if (!Number.isInteger(rate) || (rate as number) < 8000)
    return fail("audio.sample_rate is missing or not a rate");
  const map = o.phoneme_id_map;
  if (!map || typeof map !== "object") return fail("phoneme_id_map is missing");
  const entries: [string, number[]][] = [];
  for (const [ph, ids] of Object.entries(map)) {
    if (!Array.isArray(ids) || !ids.every((i) => Number.isInteger(i) && i >= 0))
      return fail(`phoneme_id_map["${ph}"] is not a list of ids`);
    entries.push([ph, ids]);
  }
  const phonemeIdMap = new Map(entries);
  for (const p of ["^", "$", "_"]) if (!phonemeIdMap.has(p)) return fail(`phoneme_id_map lacks "${p}"`);
  const inf = o.inference ?? {};
  const num = (v: unknown, d: number) => (typeof v === "number" && Number.isFinite(v) ? v : d);
  const voice = o.espeak?.voice;
  return {
    ok: true,
    config: {
      sampleRate: rate as number,
      espeakVoice: typeof voice === "string" ? voice : "en-us",
      // Piper's own defaults when a config leaves them out.
      scales: [num(inf.noise_scale, 0.667), num(inf.length_scale, 1), num(inf.noise_w, 0.8)],
      phonemeIdMap,
      numSpeakers: num((o as Record<string, unknown>).num_speakers, 1),
    },
  };
}

/**
 * Piper's layout: "^", then each phoneme followed by the pad "_", then "$". Phonemes are the code
 * points of espeak-ng's IPA after NFD (stress marks and length marks are phonemes of their own);
 * ones the voice does not know are skipped and returned so they can be logged.
 */
export function phonemeIds(
  ipa: string,
  map: PiperConfig["phonemeIdMap"],
): { ids: number[]; unknown: string[] } {
  const get = (p: string) => map.get(p) ?? [];
  const ids = [...get("^"), ...get("_")];
  const unknown: string[] = [];
  for (const ph of ipa.normalize("NFD")) {
    const known = map.get(ph);
    if (!known) {
      if (!unknown.includes(ph)) unknown.push(ph);
      continue;
    }
    ids.push(...known, ...get("_"));
  }
  ids.push(...get("$"));
  return { ids, unknown };
}

export interface PiperTtsOptions {
  modelPath: string;
  /** Default `${modelPath}.json`. */
  configPath?: string;
  loadOnnx: () => Promise<typeof Ort>;
  espeakBinary?: string;
  spawn?: SpawnFn;
}

export function createPiperTts(opts: PiperTtsOptions): TextToSpeech {
  const configPath = opts.configPath ?? `${opts.modelPath}.json`;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(configPath, "utf8"));
  } catch (cause) {
    throw kianaError("MODEL_FILE_INVALID", `piper config ${configPath}: ${describeError(cause)}`, {}, cause);
  }
  const parsed = parsePiperConfig(raw);
  if (!parsed.ok) throw kianaError("MODEL_FILE_INVALID", `piper config ${configPath}: ${parsed.reason}`);
  const config = parsed.config;
  const espeak = resolveBinary(opts.espeakBinary ?? "espeak-ng", "espeak-ng");
  const spawn = opts.spawn ?? bunSpawn;
  let session: Promise<{ ort: typeof Ort; s: Ort.InferenceSession }> | undefined;

  async function phonemize(sentence: string): Promise<string> {
    const child = spawn([espeak, "--ipa", "-q", "-v", config.espeakVoice], { stdin: "pipe" });
    child.stdin?.write(sentence);
    child.stdin?.end();
    const [out, code] = await Promise.all([new Response(child.stdout).text(), child.exited]);
    if (code !== 0) throw kianaError("MODEL_ENGINE_FAILED", `espeak-ng --ipa exited with code ${code}`);
    // espeak-ng writes one line per clause; Piper hears a clause break as a space.
    return out
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean)
      .join(" ");
  }

  async function synth(ids: number[]): Promise<Int16Array> {
    session ??= opts
      .loadOnnx()
      .then(async (ort) => ({ ort, s: await ort.InferenceSession.create(opts.modelPath) }));
    const { ort, s } = await session;
    const feeds: Record<string, Ort.Tensor> = {
      input: new ort.Tensor("int64", BigInt64Array.from(ids, BigInt), [1, ids.length]),
      input_lengths: new ort.Tensor("int64", BigInt64Array.of(BigInt(ids.length)), [1]),
      scales: new ort.Tensor("float32", Float32Array.from(config.scales), [3]),
    };
    if (config.numSpeakers > 1) feeds.sid = new ort.Tensor("int64", BigInt64Array.of(0n), [1]);
    const out = await s.run(feeds);
    const audio = out[s.outputNames[0] ?? "output"]?.data as Float32Array | undefined;
    if (!audio) throw kianaError("MODEL_ENGINE_FAILED", "piper voice gave no audio");
    // Piper normalises each sentence to full scale, never amplifying more than 100×.
    let peak = 0.01;
    for (const v of audio) peak = Math.max(peak, Math.abs(v));
    return Int16Array.from(audio, (v) => Math.max(-32768, Math.min(32767, Math.round((v / peak) * 32767))));
  }

  return {
    name: "piper",
    voices: [config.espeakVoice],
    synthesize(text, o = {}): SpeechAudio {
      const sentences = splitSentences(text);
      if (sentences.length === 0) throw new RangeError("nothing to say: the text is empty");
      return {
        sampleRate: config.sampleRate,
        async *[Symbol.asyncIterator]() {
          for (const sentence of sentences) {
            o.signal?.throwIfAborted();
            const { ids } = phonemeIds(await phonemize(sentence), config.phonemeIdMap);
            o.signal?.throwIfAborted();
            yield await synth(ids);
          }
        },
      };
    },
  };
}
