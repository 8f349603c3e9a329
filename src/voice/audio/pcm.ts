// Plain functions over PCM samples: 16-bit ↔ float conversion, down-mixing, resampling to the 16 kHz
// the wake word and VAD models were trained on, and loudness for silence detection.

/** The rate every voice model here expects. */
export const VOICE_SAMPLE_RATE = 16_000;

/** s16 → float32 in [-1, 1). */
export function s16ToFloat32(samples: Int16Array): Float32Array {
  const out = new Float32Array(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = (samples[i] ?? 0) / 32768;
  return out;
}

/** float32 → s16, rounded and clipped (resampling can overshoot full scale slightly). */
export function float32ToS16(samples: Float32Array): Int16Array {
  const out = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const v = Math.round((samples[i] ?? 0) * 32768);
    out[i] = Math.min(32767, Math.max(-32768, v));
  }
  return out;
}

/** Interleaved frames → mono by averaging the channels. */
export function toMono(samples: Int16Array, channels: number): Int16Array {
  if (channels === 1) return samples;
  const frames = Math.floor(samples.length / channels);
  const out = new Int16Array(frames);
  for (let f = 0; f < frames; f++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += samples[f * channels + c] ?? 0;
    out[f] = Math.round(sum / channels);
  }
  return out;
}

export interface ResampleOptions {
  /** Zero crossings of the sinc on each side of a tap; more is sharper and slower. Default 16. */
  zeroCrossings?: number;
  /** Passband edge as a fraction of the lower Nyquist frequency. Default 0.92. */
  rolloff?: number;
}

/**
 * Band-limited resampling by direct evaluation of a Blackman-windowed sinc at each output instant.
 * Going down (22.05 → 16 kHz) the cutoff sits below the new Nyquist frequency, so the 8–11 kHz
 * content of the source does not fold back into the band the models listen to, which linear
 * interpolation would let through. Offline use only: whole buffers, no state between calls.
 */
export function resample(
  input: Float32Array,
  fromRate: number,
  toRate: number,
  opts: ResampleOptions = {},
): Float32Array {
  if (!(fromRate > 0 && toRate > 0)) throw new RangeError("sample rates must be positive");
  if (fromRate === toRate) return input.slice();
  const zeroCrossings = opts.zeroCrossings ?? 16;
  const rolloff = opts.rolloff ?? 0.92;
  // Cutoff in cycles per input sample.
  const cutoff = (0.5 * rolloff * Math.min(fromRate, toRate)) / fromRate;
  const half = zeroCrossings / (2 * cutoff);
  const outLength = Math.floor((input.length * toRate) / fromRate);
  const out = new Float32Array(outLength);
  const step = fromRate / toRate;
  for (let j = 0; j < outLength; j++) {
    const t = j * step;
    const lo = Math.max(0, Math.ceil(t - half));
    const hi = Math.min(input.length - 1, Math.floor(t + half));
    let acc = 0;
    for (let i = lo; i <= hi; i++) {
      const x = i - t;
      const w = 0.42 + 0.5 * Math.cos((Math.PI * x) / half) + 0.08 * Math.cos((2 * Math.PI * x) / half);
      const arg = 2 * Math.PI * cutoff * x;
      const sinc = arg === 0 ? 1 : Math.sin(arg) / arg;
      acc += (input[i] ?? 0) * 2 * cutoff * sinc * w;
    }
    out[j] = acc;
  }
  return out;
}

/** Any rate and channel count → 16 kHz mono s16, what the microphone port carries. */
export function toVoicePcm(samples: Int16Array, sampleRate: number, channels: number): Int16Array {
  const mono = toMono(samples, channels);
  if (sampleRate === VOICE_SAMPLE_RATE) return mono;
  return float32ToS16(resample(s16ToFloat32(mono), sampleRate, VOICE_SAMPLE_RATE));
}

/** Root mean square relative to full scale, 0..1. */
export function rms(samples: Int16Array): number {
  if (samples.length === 0) return 0;
  let sum = 0;
  for (let i = 0; i < samples.length; i++) {
    const v = (samples[i] ?? 0) / 32768;
    sum += v * v;
  }
  return Math.sqrt(sum / samples.length);
}

/** Level in dB relative to full scale; digital silence is -Infinity. */
export function dbfs(samples: Int16Array): number {
  return 20 * Math.log10(rms(samples));
}

/** Quieter than `thresholdDbfs` (default -50 dBFS, below a quiet room through a USB microphone). */
export function isSilent(samples: Int16Array, thresholdDbfs = -50): boolean {
  return dbfs(samples) < thresholdDbfs;
}

/** Where sound starts and stops, in samples, by 10 ms blocks above a level; null when all is silent. */
export function soundBounds(
  samples: Int16Array,
  sampleRate: number,
  thresholdDbfs = -40,
): { start: number; end: number } | null {
  const block = Math.max(1, Math.round(sampleRate / 100));
  let start = -1;
  let end = -1;
  for (let at = 0; at < samples.length; at += block) {
    if (isSilent(samples.subarray(at, at + block), thresholdDbfs)) continue;
    if (start < 0) start = at;
    end = Math.min(samples.length, at + block);
  }
  return start < 0 ? null : { start, end };
}
