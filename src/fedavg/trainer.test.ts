// Local training: the same seed gives the same weights bit for bit, both models learn a separable
// problem, and the MLP's analytic gradient matches finite differences.
import { describe, expect, test } from "bun:test";
import { accumulateGradient, initParams, type ModelSpec, paramCount } from "./model.ts";
import { createRng } from "./rng.ts";
import { type Example, evaluate, train } from "./trainer.ts";

function blobs(n: number, seed: number): Example[] {
  const rng = createRng(seed);
  return Array.from({ length: n }, (_, i) => {
    const y = (i % 2) as 0 | 1;
    const x = Float32Array.from({ length: 8 }, (_, d) => (d < 2 ? (y ? 1 : -1) : 0) + 0.7 * rng.gaussian());
    return { x, y };
  });
}
const opts = { epochs: 5, batchSize: 8, learningRate: 0.05, optimizer: "adam" as const, seed: 3 };

describe("trainer", () => {
  for (const spec of [
    { kind: "logistic", inputs: 8, hidden: 0 },
    { kind: "mlp", inputs: 8, hidden: 6 },
  ] as ModelSpec[]) {
    test(`${spec.kind}: deterministic for a seed, different for another, and learns`, () => {
      const data = blobs(200, 1);
      const start = initParams(spec, createRng(9));
      const a = train(spec, start, data, opts);
      expect(train(spec, start, data, opts)).toEqual(a);
      expect(train(spec, start, data, { ...opts, seed: 4 })).not.toEqual(a);
      const before = evaluate(spec, start, blobs(200, 2));
      const after = evaluate(spec, a, blobs(200, 2));
      expect(after.loss).toBeLessThan(before.loss / 2);
      expect(after.accuracy).toBeGreaterThan(0.95);
    });
  }

  test("mlp gradient matches finite differences", () => {
    const spec: ModelSpec = { kind: "mlp", inputs: 8, hidden: 4 };
    const p = initParams(spec, createRng(5));
    const data = blobs(6, 7);
    const xs = data.map((e) => e.x);
    const ys = data.map((e) => e.y);
    const batch = [0, 1, 2, 3, 4, 5];
    const g = new Float64Array(paramCount(spec));
    accumulateGradient(spec, p, xs, ys, batch, g);
    const loss = (q: Float32Array) => accumulateGradient(spec, q, xs, ys, batch, new Float64Array(g.length));
    for (const i of [0, 13, 32, 33, 36, 40]) {
      const h = 1e-2;
      const up = Float32Array.from(p);
      const down = Float32Array.from(p);
      up[i] = (up[i] ?? 0) + h;
      down[i] = (down[i] ?? 0) - h;
      expect((loss(up) - loss(down)) / (2 * h)).toBeCloseTo(g[i] ?? 0, 3);
    }
  });
});
