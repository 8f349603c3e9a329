// Audio between Wyoming events and the speech ports: synthesised speech sent as audio-start/chunk/stop
// while the synthesiser still works, and received audio chunks turned into 16 kHz mono samples.
import { toVoicePcm, VOICE_SAMPLE_RATE } from "../audio/pcm.ts";
import type { TextToSpeech } from "../speech-ports.ts";
import { type AudioFormat, audioChunk, audioStart, audioStop, type WyomingEvent } from "../wyoming/index.ts";

/** 2048 samples: under 100 ms at espeak's 22.05 kHz, so the satellite can start playing early. */
const MAX_CHUNK_SAMPLES = 2048;

export interface SpokenAudio {
  samples: number;
  sampleRate: number;
}

/**
 * Sends `text` as speech: one answer, audio-start … audio-stop, also when the text comes as sentences
 * one after another (a streamed model answer). The audio-start goes out with the first synthesised
 * piece, not before; `onSentence` hears each sentence just before it is synthesised.
 */
export async function streamSpeech(
  tts: TextToSpeech,
  text: string | AsyncIterable<string>,
  send: (event: WyomingEvent) => Promise<unknown>,
  opts: { voice?: string; signal?: AbortSignal; onSentence?: (sentence: string) => unknown } = {},
): Promise<SpokenAudio> {
  let format: AudioFormat | null = null;
  let sampleRate = 0;
  let samples = 0;
  for await (const sentence of typeof text === "string" ? [text] : text) {
    opts.signal?.throwIfAborted();
    await opts.onSentence?.(sentence);
    const audio = tts.synthesize(sentence, { voice: opts.voice, signal: opts.signal });
    sampleRate = audio.sampleRate;
    for await (const pcm of audio) {
      if (!format) {
        format = { rate: audio.sampleRate, width: 2, channels: 1 };
        await send(audioStart(format));
      }
      for (let at = 0; at < pcm.length; at += MAX_CHUNK_SAMPLES) {
        const piece = pcm.subarray(at, at + MAX_CHUNK_SAMPLES);
        await send(audioChunk(format, new Uint8Array(piece.buffer, piece.byteOffset, piece.byteLength)));
      }
      samples += pcm.length;
    }
  }
  // Nothing synthesised (an empty reply) is still a complete, empty answer for the listener.
  if (!format) await send(audioStart({ rate: sampleRate || 16000, width: 2, channels: 1 }));
  await send(audioStop());
  return { samples, sampleRate: format?.rate ?? sampleRate };
}

/** An audio-chunk's payload as 16 kHz mono; a string says why it cannot be used. */
export function chunkToVoicePcm(payload: Uint8Array | undefined, format: AudioFormat): Int16Array | string {
  if (format.width !== 2) return `audio of ${format.width}-byte samples: only 16-bit is read`;
  if (format.channels !== 1 && format.channels !== 2) return `audio with ${format.channels} channels`;
  const bytes = payload ?? new Uint8Array(0);
  const frame = 2 * format.channels;
  // Copied: a payload may sit at an odd offset inside the frame buffer.
  const pcm = new Int16Array(bytes.slice(0, bytes.length - (bytes.length % frame)).buffer);
  const mono =
    format.rate === VOICE_SAMPLE_RATE && format.channels === 1
      ? pcm
      : toVoicePcm(pcm, format.rate, format.channels);
  return addNoiseFloor(mono);
}

/**
 * Peak of the noise floor added to received audio, in LSB: uniform ±64 is about -59 dBFS RMS, the
 * self-noise of an ordinary microphone. Quieter than that (digital silence, or ±2 LSB of dither)
 * pocketsphinx's normalisation goes astray and it drops or swaps words: over 3 espeak voices × 2
 * speeds × 20 commands, 72/120 transcripts were exact with ±2 LSB and 103/120 with ±64.
 */
export const NOISE_FLOOR_LSB = 64;

let noise = 0x2545f491;
/**
 * Adds a faint noise floor, in place. Satellites send digital silence while muted and before speech,
 * and a synthetic or very clean source has none; the recogniser was trained on rooms, which always
 * have some. It is far below speech, so a real microphone's own noise hardly changes.
 */
export function addNoiseFloor(pcm: Int16Array, peak = NOISE_FLOOR_LSB): Int16Array {
  const span = 2 * peak + 1;
  for (let i = 0; i < pcm.length; i++) {
    noise = (Math.imul(noise, 1103515245) + 12345) >>> 0;
    const v = (pcm[i] ?? 0) + ((noise >>> 8) % span) - peak;
    pcm[i] = Math.max(-32768, Math.min(32767, v));
  }
  return pcm;
}
