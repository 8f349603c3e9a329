// Turns an openWakeWord embedding window (16 × 96, oldest first) into the verifier's input. The
// window is kept whole: the detector fires at a fixed point after the phrase, so position in the
// window carries meaning, and logistic regression on it beat mean + last-4 summaries (99 % vs 93 %
// on the espeak test set) with a model of only 1 537 weights.

export const EMBEDDING_DIM = 96;
export const WINDOW_EMBEDDINGS = 16;
export const WAKE_FEATURES = EMBEDDING_DIM * WINDOW_EMBEDDINGS;
/**
 * openWakeWord embeddings have an RMS near 16; a fixed divisor brings inputs to unit scale without
 * normalisation statistics that would have to be pooled across households.
 */
const SCALE = 1 / 16;

export function wakeFeatures(window: Float32Array): Float32Array {
  if (window.length !== WAKE_FEATURES)
    throw new RangeError(
      `wake features: need ${WINDOW_EMBEDDINGS} × ${EMBEDDING_DIM} floats, got ${window.length}`,
    );
  const out = new Float32Array(WAKE_FEATURES);
  for (let i = 0; i < WAKE_FEATURES; i++) out[i] = (window[i] ?? 0) * SCALE;
  return out;
}
