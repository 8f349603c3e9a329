// The small binary classifiers FedAvg trains on device: logistic regression or one hidden tanh layer,
// all weights in one flat Float32Array so that updates, clipping, quantisation and averaging treat
// every model the same way. Layout (mlp): W1 [hidden × inputs], b1 [hidden], w2 [hidden], b2.
import type { Rng } from "./rng.ts";

export interface ModelSpec {
  kind: "logistic" | "mlp";
  /** Length of a feature vector. */
  inputs: number;
  /** Hidden units; ignored for logistic. */
  hidden: number;
}

export function paramCount(spec: ModelSpec): number {
  return spec.kind === "logistic" ? spec.inputs + 1 : spec.hidden * (spec.inputs + 2) + 1;
}

/** A spec from the outside (announcements, chain records) checked before it sizes any allocation. */
export function checkSpec(spec: unknown): string | null {
  const s = spec as Partial<ModelSpec> | null;
  if (typeof s !== "object" || s === null) return "model spec must be an object";
  if (s.kind !== "logistic" && s.kind !== "mlp") return "model kind must be logistic or mlp";
  if (!Number.isInteger(s.inputs) || (s.inputs ?? 0) < 1 || (s.inputs ?? 0) > 1 << 20)
    return "model inputs must be an integer in [1, 2^20]";
  if (s.kind === "mlp" && (!Number.isInteger(s.hidden) || (s.hidden ?? 0) < 1 || (s.hidden ?? 0) > 4096))
    return "mlp hidden must be an integer in [1, 4096]";
  return null;
}

/**
 * Logistic regression starts at zero (the loss is convex); the MLP needs broken symmetry, so its first
 * layer is Glorot-uniform from the seeded generator and the output layer small.
 */
export function initParams(spec: ModelSpec, rng: Rng): Float32Array {
  const p = new Float32Array(paramCount(spec));
  if (spec.kind === "logistic") return p;
  const { inputs, hidden } = spec;
  const a = Math.sqrt(6 / (inputs + hidden));
  for (let i = 0; i < hidden * inputs; i++) p[i] = (rng.next() * 2 - 1) * a;
  const w2 = hidden * inputs + hidden;
  const a2 = Math.sqrt(6 / (hidden + 1));
  for (let j = 0; j < hidden; j++) p[w2 + j] = (rng.next() * 2 - 1) * a2;
  return p;
}

const sigmoid = (z: number) => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));

/** Probability of the positive class. `hiddenOut` (length hidden) receives the activations if given. */
export function predict(spec: ModelSpec, p: Float32Array, x: Float32Array, hiddenOut?: Float64Array): number {
  const { inputs } = spec;
  if (spec.kind === "logistic") {
    let z = p[inputs] ?? 0;
    for (let i = 0; i < inputs; i++) z += (p[i] ?? 0) * (x[i] ?? 0);
    return sigmoid(z);
  }
  const { hidden } = spec;
  const b1 = hidden * inputs;
  const w2 = b1 + hidden;
  let z = p[w2 + hidden] ?? 0;
  for (let j = 0; j < hidden; j++) {
    let h = p[b1 + j] ?? 0;
    const row = j * inputs;
    for (let i = 0; i < inputs; i++) h += (p[row + i] ?? 0) * (x[i] ?? 0);
    h = Math.tanh(h);
    if (hiddenOut) hiddenOut[j] = h;
    z += (p[w2 + j] ?? 0) * h;
  }
  return sigmoid(z);
}

/**
 * Adds the gradient of the mean binary cross-entropy over `batch` to `grad` (which the caller zeroes)
 * and returns that mean loss. Sums run in Float64 so a batch's order barely matters numerically.
 */
export function accumulateGradient(
  spec: ModelSpec,
  p: Float32Array,
  xs: readonly Float32Array[],
  ys: ArrayLike<number>,
  batch: readonly number[],
  grad: Float64Array,
): number {
  const { inputs } = spec;
  const hidden = spec.kind === "mlp" ? spec.hidden : 0;
  const h = new Float64Array(hidden);
  const inv = 1 / batch.length;
  let loss = 0;
  for (const k of batch) {
    const x = xs[k] as Float32Array;
    const y = ys[k] ?? 0;
    const q = predict(spec, p, x, h);
    loss -= y === 1 ? Math.log(Math.max(q, 1e-12)) : Math.log(Math.max(1 - q, 1e-12));
    // d(BCE)/dz at the output is q − y for a sigmoid output.
    const dz = (q - y) * inv;
    if (spec.kind === "logistic") {
      for (let i = 0; i < inputs; i++) grad[i] = (grad[i] ?? 0) + dz * (x[i] ?? 0);
      grad[inputs] = (grad[inputs] ?? 0) + dz;
      continue;
    }
    const b1 = hidden * inputs;
    const w2 = b1 + hidden;
    grad[w2 + hidden] = (grad[w2 + hidden] ?? 0) + dz;
    for (let j = 0; j < hidden; j++) {
      const hj = h[j] ?? 0;
      grad[w2 + j] = (grad[w2 + j] ?? 0) + dz * hj;
      const dh = dz * (p[w2 + j] ?? 0) * (1 - hj * hj);
      grad[b1 + j] = (grad[b1 + j] ?? 0) + dh;
      const row = j * inputs;
      for (let i = 0; i < inputs; i++) grad[row + i] = (grad[row + i] ?? 0) + dh * (x[i] ?? 0);
    }
  }
  return loss * inv;
}
