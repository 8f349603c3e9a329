// Text-to-speech with espeak-ng: robotic but instant on any board, and the fallback when no Piper
// voice is installed. Audio is read from `espeak-ng --stdout` while the process still runs.
import { describeError, kianaError } from "../../errors.ts";
import type { SpeechAudio, TextToSpeech } from "../speech-ports.ts";
import {
  bunSpawn,
  killChild,
  resolveBinary,
  type SpawnFn,
  type SpeechChild,
  stderrTail,
} from "../stt/child.ts";
import { splitSentences } from "./sentences.ts";

export interface EspeakTtsOptions {
  /** Default "espeak-ng" from PATH. */
  binary?: string;
  /** Default "en-us". Variants work too: "en+m3", "en-us+f3". */
  defaultVoice?: string;
  /** Words per minute. Default 160. */
  speed?: number;
  spawn?: SpawnFn;
  /** Voices listed at most. Default 64. */
  maxVoices?: number;
}

export type WavHeader = { sampleRate: number; channels: number; dataOffset: number };

/**
 * The format and where samples start, from the first bytes of a streamed WAV: null while more bytes
 * are needed, a string when they are not a 16-bit PCM WAV. espeak-ng cannot seek back on a pipe, so its
 * sizes are placeholders and are ignored: the data runs to the end of the stream.
 */
export function readWavHeader(bytes: Uint8Array): WavHeader | null | string {
  if (bytes.length < 12) return null;
  const tag = (at: number) => String.fromCharCode(...bytes.subarray(at, at + 4));
  if (tag(0) !== "RIFF" || tag(8) !== "WAVE") return "not a RIFF/WAVE stream";
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let fmt: Omit<WavHeader, "dataOffset"> | null = null;
  // A real header has two or three chunks before the data; more means garbage.
  for (let at = 12, n = 0; n < 8; n++) {
    if (at + 8 > bytes.length) return null;
    const size = view.getUint32(at + 4, true);
    if (tag(at) === "data") return fmt ? { ...fmt, dataOffset: at + 8 } : "data before the fmt chunk";
    if (tag(at) === "fmt ") {
      if (at + 24 > bytes.length) return null;
      if (view.getUint16(at + 8, true) !== 1 || view.getUint16(at + 22, true) !== 16) return "not 16-bit PCM";
      fmt = { channels: view.getUint16(at + 10, true), sampleRate: view.getUint32(at + 12, true) };
    }
    at += 8 + size + (size & 1);
  }
  return "no data chunk in the first chunks";
}

/** Language codes from `espeak-ng --voices=<lang>`; MBROLA voices need extra packages and are left out. */
export function parseEspeakVoices(listing: string, max = 64): string[] {
  const voices = new Set<string>();
  for (const line of listing.split("\n").slice(1)) {
    const cols = line.trim().split(/\s+/);
    const [lang, file] = [cols[1], cols[4]];
    if (!lang || !file || file.startsWith("mb/")) continue;
    voices.add(lang);
    if (voices.size >= max) break;
  }
  return [...voices];
}

export function createEspeakTts(opts: EspeakTtsOptions = {}): TextToSpeech {
  const binary = resolveBinary(opts.binary ?? "espeak-ng", "espeak-ng");
  const spawn = opts.spawn ?? bunSpawn;
  const defaultVoice = opts.defaultVoice ?? "en-us";
  const speed = String(opts.speed ?? 160);
  let voices: string[] | null = null;

  async function* sentenceAudio(
    child: SpeechChild,
    onRate: (hz: number) => void,
  ): AsyncGenerator<Int16Array> {
    let head: Uint8Array = new Uint8Array(0);
    let header: WavHeader | null = null;
    // A read can end in the middle of a sample; its first byte waits for the next read.
    let carry: number | null = null;
    for await (const chunk of child.stdout) {
      let bytes: Uint8Array = chunk;
      if (!header) {
        head = concat(head, chunk);
        const h = readWavHeader(head);
        if (typeof h === "string") throw kianaError("MODEL_ENGINE_FAILED", `espeak-ng wrote no WAV: ${h}`);
        if (!h) continue;
        if (h.channels !== 1)
          throw kianaError("MODEL_ENGINE_FAILED", `espeak-ng wrote ${h.channels} channels`);
        header = h;
        onRate(h.sampleRate);
        bytes = head.subarray(h.dataOffset);
      }
      if (carry !== null) bytes = concat(Uint8Array.of(carry), bytes);
      carry = bytes.length % 2 === 1 ? (bytes[bytes.length - 1] ?? 0) : null;
      const whole = bytes.length - (bytes.length % 2);
      if (whole === 0) continue;
      const samples = new Int16Array(whole / 2);
      new Uint8Array(samples.buffer).set(bytes.subarray(0, whole));
      yield samples;
    }
  }

  return {
    name: "espeak-ng",
    get voices() {
      if (!voices) {
        const r = Bun.spawnSync([binary, "--voices=en"], { stdout: "pipe", stderr: "ignore", timeout: 5000 });
        const text = r.success ? r.stdout.subarray(0, 256 * 1024).toString() : "";
        voices = parseEspeakVoices(text, opts.maxVoices);
        if (voices.length === 0) voices = [defaultVoice];
      }
      return voices;
    },
    synthesize(text, o = {}): SpeechAudio {
      const sentences = splitSentences(text);
      if (sentences.length === 0) throw new RangeError("nothing to say: the text is empty");
      const voice = o.voice ?? defaultVoice;
      if (!/^[\w+-]+$/.test(voice)) throw new RangeError(`voice "${voice}" is not an espeak-ng voice name`);
      const signal = o.signal;
      // espeak-ng's own rate, until the first header says otherwise.
      let sampleRate = 22050;
      async function* run(): AsyncGenerator<Int16Array> {
        for (const sentence of sentences) {
          signal?.throwIfAborted();
          let child: SpeechChild;
          try {
            child = spawn([binary, "--stdout", "-v", voice, "-s", speed], { stdin: "pipe" });
          } catch (cause) {
            throw kianaError(
              "ENGINE_MISSING",
              `espeak-ng could not be started: ${describeError(cause)}`,
              {},
              cause,
            );
          }
          const stderr = stderrTail(child.stderr);
          const kill = () => killChild(child);
          signal?.addEventListener("abort", kill, { once: true });
          try {
            // Text goes in on stdin: as an argument, a leading "-" would be read as an option.
            child.stdin?.write(sentence);
            child.stdin?.end();
            let any = false;
            for await (const samples of sentenceAudio(child, (hz) => (sampleRate = hz))) {
              any = true;
              yield samples;
            }
            signal?.throwIfAborted();
            const code = await child.exited;
            if (code !== 0 || !any) {
              const why = (await stderr).join("; ") || `exit code ${code}`;
              throw kianaError("MODEL_ENGINE_FAILED", `espeak-ng failed (voice ${voice}): ${why}`, {
                engine: "espeak-ng",
                voice,
                exitCode: code,
              });
            }
          } finally {
            signal?.removeEventListener("abort", kill);
            // A consumer that stops early leaves the process behind otherwise.
            kill();
          }
        }
      }
      return {
        get sampleRate() {
          return sampleRate;
        },
        [Symbol.asyncIterator]: () => run(),
      };
    },
  };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
