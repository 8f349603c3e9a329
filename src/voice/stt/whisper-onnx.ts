// Speech-to-text with a Whisper ONNX export (encoder + decoder without KV cache, as optimum writes
// them): log-mel features in TS, greedy decoding. UNVERIFIED: no Whisper weights could be fetched
// here, so only the features (log-mel.test.ts) are tested; the run/decode path below never ran.
import { readFileSync } from "node:fs";
import type * as Ort from "onnxruntime-node";
import { describeError, kianaError } from "../../errors.ts";
import type { SpeechToText, SttSession } from "../speech-ports.ts";
import { logMel, N_FRAMES, N_MELS } from "./log-mel.ts";

export interface WhisperOnnxOptions {
  encoderPath: string;
  decoderPath: string;
  /** vocab.json (token → id) or tokenizer.json (model.vocab plus added_tokens with the specials). */
  vocabPath: string;
  loadOnnx: () => Promise<typeof Ort>;
  /** Tokens decoded at most per utterance. Default 224 (Whisper's half context). */
  maxTokens?: number;
}

/** GPT-2's byte ↔ printable-character table, which Whisper's BPE vocabulary is written in. */
function byteDecoder(): Map<string, number> {
  const bytes: number[] = [];
  for (let b = 33; b <= 126; b++) bytes.push(b);
  for (let b = 161; b <= 172; b++) bytes.push(b);
  for (let b = 174; b <= 255; b++) bytes.push(b);
  const chars = bytes.map((b) => String.fromCharCode(b));
  for (let b = 0, extra = 0; b < 256; b++) {
    if (bytes.includes(b)) continue;
    bytes.push(b);
    chars.push(String.fromCharCode(256 + extra++));
  }
  return new Map(chars.map((c, i) => [c, bytes[i] ?? 0]));
}

export interface WhisperVocab {
  tokens: Map<number, string>;
  special(name: string): number;
}

export function readWhisperVocab(json: unknown): WhisperVocab {
  const o = json as {
    model?: { vocab?: Record<string, number> };
    added_tokens?: { id: number; content: string }[];
  };
  const flat = o.model?.vocab ?? (json as Record<string, number>);
  const ids = new Map<string, number>(Object.entries(flat).filter(([, v]) => Number.isInteger(v)));
  for (const t of o.added_tokens ?? []) ids.set(t.content, t.id);
  const tokens = new Map([...ids].map(([k, v]) => [v, k]));
  return {
    tokens,
    special(name) {
      const id = ids.get(name);
      if (id === undefined) throw kianaError("MODEL_FILE_INVALID", `whisper vocabulary has no ${name} token`);
      return id;
    },
  };
}

/** Token ids → text: specials ("<|...|>") dropped, byte-level BPE characters back to UTF-8. */
export function detokenize(ids: readonly number[], vocab: WhisperVocab): string {
  const table = byteDecoder();
  const bytes: number[] = [];
  for (const id of ids) {
    const tok = vocab.tokens.get(id);
    if (!tok || (tok.startsWith("<|") && tok.endsWith("|>"))) continue;
    for (const ch of tok) bytes.push(table.get(ch) ?? 0x3f);
  }
  return new TextDecoder().decode(Uint8Array.from(bytes)).trim();
}

export function createWhisperOnnxStt(opts: WhisperOnnxOptions): SpeechToText & { dispose(): Promise<void> } {
  const maxTokens = opts.maxTokens ?? 224;
  let loaded: Promise<{
    ort: typeof Ort;
    enc: Ort.InferenceSession;
    dec: Ort.InferenceSession;
    vocab: WhisperVocab;
  }>;
  const load = () => {
    loaded ??= (async () => {
      const ort = await opts.loadOnnx();
      try {
        const vocab = readWhisperVocab(JSON.parse(readFileSync(opts.vocabPath, "utf8")));
        const enc = await ort.InferenceSession.create(opts.encoderPath);
        const dec = await ort.InferenceSession.create(opts.decoderPath);
        return { ort, enc, dec, vocab };
      } catch (cause) {
        throw kianaError("MODEL_ENGINE_FAILED", `whisper: ${describeError(cause)}`, {}, cause);
      }
    })();
    return loaded;
  };

  async function transcribe(samples: Int16Array, language: string): Promise<string> {
    const { ort, enc, dec, vocab } = await load();
    const audio = Float32Array.from(samples, (s) => s / 32768);
    const features = new ort.Tensor("float32", logMel(audio), [1, N_MELS, N_FRAMES]);
    const encOut = await enc.run({ [enc.inputNames[0] ?? "input_features"]: features });
    const hidden = encOut[enc.outputNames[0] ?? "last_hidden_state"];
    if (!hidden) throw kianaError("MODEL_ENGINE_FAILED", "whisper encoder gave no output");
    const eot = vocab.special("<|endoftext|>");
    const ids = [
      vocab.special("<|startoftranscript|>"),
      vocab.special(`<|${language}|>`),
      vocab.special("<|transcribe|>"),
      vocab.special("<|notimestamps|>"),
    ];
    const prompt = ids.length;
    // Greedy, recomputing the whole prefix each step: without the KV-cache inputs each step costs
    // O(n) decoder passes, acceptable for the short commands the hub hears.
    while (ids.length - prompt < maxTokens) {
      const input = new ort.Tensor("int64", BigInt64Array.from(ids, BigInt), [1, ids.length]);
      const out = await dec.run({ input_ids: input, encoder_hidden_states: hidden });
      const logits = out[dec.outputNames[0] ?? "logits"];
      if (!logits) throw kianaError("MODEL_ENGINE_FAILED", "whisper decoder gave no logits");
      const vocabSize = logits.dims[2] ?? 0;
      const data = logits.data as Float32Array;
      const row = (ids.length - 1) * vocabSize;
      let best = 0;
      for (let v = 1; v < vocabSize; v++)
        if ((data[row + v] ?? -Infinity) > (data[row + best] ?? -Infinity)) best = v;
      if (best === eot) break;
      ids.push(best);
    }
    return detokenize(ids.slice(prompt), vocab);
  }

  return {
    name: "whisper-onnx",
    start(o = {}): SttSession {
      const chunks: Int16Array[] = [];
      let done = false;
      return {
        write(chunk) {
          if (!done) chunks.push(chunk.slice());
        },
        async finish() {
          done = true;
          const t0 = performance.now();
          const all = new Int16Array(chunks.reduce((n, c) => n + c.length, 0));
          let at = 0;
          for (const c of chunks) {
            all.set(c, at);
            at += c.length;
          }
          const text = await transcribe(all, o.language ?? "en");
          return { text, decodeMs: performance.now() - t0 };
        },
        cancel() {
          done = true;
        },
      };
    },
    async dispose() {
      if (!loaded) return;
      const s = await loaded.catch(() => null);
      await s?.enc.release();
      await s?.dec.release();
    },
  };
}
