// Local training: E epochs of minibatch SGD or Adam over a device's own examples, starting from the
// round's global weights. Deterministic for a seed (shuffles come from the seeded generator and all
// arithmetic is ordered), so two runs of a round produce the same update byte for byte.
import { accumulateGradient, type ModelSpec, paramCount, predict } from "./model.ts";
import { createRng } from "./rng.ts";

export interface Example {
  /** A feature vector of spec.inputs floats. */
  x: Float32Array;
  y: 0 | 1;
}

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  optimizer: "sgd" | "adam";
  /** L2 weight decay added to the gradient. Default 0. */
  weightDecay?: number;
  seed: number;
}

export const DEFAULT_TRAIN: TrainOptions = {
  epochs: 5,
  batchSize: 16,
  learningRate: 0.01,
  optimizer: "adam",
  weightDecay: 1e-4,
  seed: 1,
};

/** Trains a copy of `start`; the caller's array is left as it was. */
export function train(
  spec: ModelSpec,
  start: Float32Array,
  examples: readonly Example[],
  opts: TrainOptions,
): Float32Array {
  const n = paramCount(spec);
  if (start.length !== n) throw new RangeError(`train: ${start.length} weights for a model of ${n}`);
  for (const e of examples)
    if (e.x.length !== spec.inputs)
      throw new RangeError(`train: example of ${e.x.length} features, model takes ${spec.inputs}`);
  const p = Float32Array.from(start);
  if (examples.length === 0) return p;
  const rng = createRng(opts.seed);
  const xs = examples.map((e) => e.x);
  const ys = Uint8Array.from(examples, (e) => e.y);
  const grad = new Float64Array(n);
  const decay = opts.weightDecay ?? 0;
  // Adam moments in Float64: their tiny values underflow float32 precision over many steps.
  const m = opts.optimizer === "adam" ? new Float64Array(n) : null;
  const v = opts.optimizer === "adam" ? new Float64Array(n) : null;
  const b1 = 0.9;
  const b2 = 0.999;
  let t = 0;
  const order = examples.map((_, i) => i);
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    rng.shuffle(order);
    for (let at = 0; at < order.length; at += opts.batchSize) {
      const batch = order.slice(at, at + opts.batchSize);
      grad.fill(0);
      accumulateGradient(spec, p, xs, ys, batch, grad);
      t++;
      const lr = opts.learningRate;
      if (m && v) {
        const c1 = 1 - b1 ** t;
        const c2 = 1 - b2 ** t;
        for (let i = 0; i < n; i++) {
          const g = (grad[i] ?? 0) + decay * (p[i] ?? 0);
          const mi = b1 * (m[i] ?? 0) + (1 - b1) * g;
          const vi = b2 * (v[i] ?? 0) + (1 - b2) * g * g;
          m[i] = mi;
          v[i] = vi;
          p[i] = (p[i] ?? 0) - (lr * (mi / c1)) / (Math.sqrt(vi / c2) + 1e-8);
        }
      } else {
        for (let i = 0; i < n; i++) p[i] = (p[i] ?? 0) - lr * ((grad[i] ?? 0) + decay * (p[i] ?? 0));
      }
    }
  }
  return p;
}

export interface Evaluation {
  accuracy: number;
  loss: number;
  examples: number;
}

/** Accuracy at threshold 0.5 and mean cross-entropy. */
export function evaluate(spec: ModelSpec, p: Float32Array, examples: readonly Example[]): Evaluation {
  let correct = 0;
  let loss = 0;
  for (const e of examples) {
    const q = predict(spec, p, e.x);
    if (q >= 0.5 === (e.y === 1)) correct++;
    loss -= e.y === 1 ? Math.log(Math.max(q, 1e-12)) : Math.log(Math.max(1 - q, 1e-12));
  }
  const k = Math.max(1, examples.length);
  return { accuracy: correct / k, loss: loss / k, examples: examples.length };
}

/** The update a client sends: its trained weights minus the round's global weights. */
export function delta(trained: Float32Array, global: Float32Array): Float32Array {
  const d = new Float32Array(trained.length);
  for (let i = 0; i < d.length; i++) d[i] = (trained[i] ?? 0) - (global[i] ?? 0);
  return d;
}
