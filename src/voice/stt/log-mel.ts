// Whisper's input features in plain TypeScript: 80 log-mel bins × 3000 frames (30 s at 10 ms hops) of
// 16 kHz audio, computed as openai/whisper does (400-point Hann STFT, Slaney mel filters, log10, 8 dB floor).

export const SAMPLE_RATE = 16_000;
export const N_FFT = 400;
export const HOP = 160;
export const N_MELS = 80;
export const N_FRAMES = 3000;
const N_BINS = N_FFT / 2 + 1;

/** Hz → mel on the Slaney scale (linear below 1 kHz, logarithmic above), as librosa's default. */
export function hzToMel(hz: number): number {
  return hz < 1000 ? (3 * hz) / 200 : 15 + (27 * Math.log(hz / 1000)) / Math.log(6.4);
}

function melToHz(mel: number): number {
  return mel < 15 ? (200 * mel) / 3 : 1000 * 6.4 ** ((mel - 15) / 27);
}

/** Triangular filters [N_MELS][N_BINS], area-normalised ("slaney"), from 0 Hz to Nyquist. */
export function melFilters(): Float32Array[] {
  const top = hzToMel(SAMPLE_RATE / 2);
  const edges = Array.from({ length: N_MELS + 2 }, (_, i) => melToHz((top * i) / (N_MELS + 1)));
  return Array.from({ length: N_MELS }, (_, m) => {
    const [lo = 0, mid = 0, hi = 0] = edges.slice(m, m + 3);
    const row = new Float32Array(N_BINS);
    for (let k = 0; k < N_BINS; k++) {
      const f = (k * SAMPLE_RATE) / N_FFT;
      const w = Math.max(0, Math.min((f - lo) / (mid - lo), (hi - f) / (hi - mid)));
      row[k] = (w * 2) / (hi - lo);
    }
    return row;
  });
}

let tables: { cos: Float32Array; sin: Float32Array; window: Float32Array; filters: Float32Array[] } | null =
  null;

function getTables() {
  if (tables) return tables;
  const cos = new Float32Array(N_BINS * N_FFT);
  const sin = new Float32Array(N_BINS * N_FFT);
  for (let k = 0; k < N_BINS; k++)
    for (let n = 0; n < N_FFT; n++) {
      cos[k * N_FFT + n] = Math.cos((2 * Math.PI * k * n) / N_FFT);
      sin[k * N_FFT + n] = Math.sin((2 * Math.PI * k * n) / N_FFT);
    }
  // Periodic Hann, as torch.hann_window.
  const window = Float32Array.from(
    { length: N_FFT },
    (_, n) => 0.5 - 0.5 * Math.cos((2 * Math.PI * n) / N_FFT),
  );
  tables = { cos, sin, window, filters: melFilters() };
  return tables;
}

/**
 * Log-mel features, mel-major ([N_MELS][N_FRAMES] flattened), for float audio in [-1, 1] at 16 kHz;
 * longer audio is cut at 30 s. A direct DFT (400 is not a power of two): only frames that touch audio
 * are computed, since the zero padding after an utterance gives the same floor value in every bin.
 */
export function logMel(audio: Float32Array): Float32Array {
  const { cos, sin, window, filters } = getTables();
  const n = Math.min(audio.length, SAMPLE_RATE * 30);
  const half = N_FFT / 2;
  // Centred frames with reflect padding at the start, as torch.stft(center=True).
  const at = (i: number) => (i < 0 ? (audio[-i] ?? 0) : i < n ? (audio[i] ?? 0) : 0);
  const live = Math.min(N_FRAMES, Math.ceil((n + half) / HOP));
  const mel = new Float32Array(N_MELS * N_FRAMES).fill(-10);
  const frame = new Float32Array(N_FFT);
  const power = new Float32Array(N_BINS);
  let max = -10;
  for (let t = 0; t < live; t++) {
    for (let i = 0; i < N_FFT; i++) frame[i] = at(t * HOP - half + i) * (window[i] ?? 0);
    for (let k = 0; k < N_BINS; k++) {
      let re = 0;
      let im = 0;
      const base = k * N_FFT;
      for (let i = 0; i < N_FFT; i++) {
        const x = frame[i] ?? 0;
        re += x * (cos[base + i] ?? 0);
        im -= x * (sin[base + i] ?? 0);
      }
      power[k] = re * re + im * im;
    }
    for (let m = 0; m < N_MELS; m++) {
      const row = filters[m] as Float32Array;
      let sum = 0;
      for (let k = 0; k < N_BINS; k++) sum += (row[k] ?? 0) * (power[k] ?? 0);
      const v = Math.log10(Math.max(sum, 1e-10));
      mel[m * N_FRAMES + t] = v;
      if (v > max) max = v;
    }
  }
  // Whisper keeps 8 (log10) units of dynamic range below the loudest bin, then scales to about ±1.
  for (let i = 0; i < mel.length; i++) mel[i] = (Math.max(mel[i] ?? 0, max - 8) + 4) / 4;
  return mel;
}
