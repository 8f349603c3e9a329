// Streaming FedAvg against the exact weighted mean computed independently in float64, for float32
// and int8 updates, and proof that a refused update leaves the running sums untouched.
import { describe, expect, test } from "bun:test";
import { createAggregator } from "./aggregator.ts";
import { clipL2 } from "./privacy.ts";
import { pseudoFloats } from "./test-keys.test-helper.ts";
import {
  encodeUpdate,
  HEADER_BYTES,
  quantizeInt8,
  type UpdateEncoding,
  type UpdateSource,
} from "./update-codec.ts";

const P = 20_000;
const opts = {
  round: 1,
  modelVersion: 0,
  params: P,
  encodings: ["float32", "int8"] as UpdateEncoding[],
  maxExamples: 1000,
  maxBytes: HEADER_BYTES + 4 * P,
};
const upd = (values: Float32Array, examples: number, encoding: UpdateEncoding = "float32") =>
  encodeUpdate(
    {
      encoding,
      round: 1,
      modelVersion: 0,
      params: P,
      examples,
      chunk: encoding === "int8" ? 128 : 0,
      evalCount: 4,
      evalCorrect: 3,
    },
    values,
  );
const stream = (bytes: Uint8Array, size: number): UpdateSource => ({
  byteLength: bytes.length,
  async *chunks() {
    for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
  },
});

/** Σ nᵢ·vᵢ / Σ nᵢ in float64, as the reference. */
function weightedMean(items: { v: Float32Array | Float64Array; n: number }[]): Float64Array {
  const out = new Float64Array(P);
  const total = items.reduce((s, x) => s + x.n, 0);
  for (const { v, n } of items)
    for (let i = 0; i < P; i++) out[i] = (out[i] ?? 0) + (n * (v[i] ?? 0)) / total;
  return out;
}
function dequant(v: Float32Array): Float64Array {
  const { scales, q } = quantizeInt8(v, 128);
  return Float64Array.from(q, (x, i) => x * (scales[Math.floor(i / 128)] ?? 0));
}
function maxDiff(a: Float32Array, b: Float64Array): number {
  let m = 0;
  for (let i = 0; i < P; i++) m = Math.max(m, Math.abs((a[i] ?? 0) - (b[i] ?? 0)));
  return m;
}

describe("streaming aggregator", () => {
  const vs = [1, 2, 3, 4].map((s) => pseudoFloats(P, s, 0.5));
  const ns = [3, 50, 7, 940];

  test("equals the exact example-weighted mean of float32 updates", async () => {
    const agg = createAggregator(opts);
    for (let k = 0; k < 4; k++)
      expect((await agg.add(`c${k}`, upd(vs[k] as Float32Array, ns[k] as number))).ok).toBe(true);
    const { mean, weight } = agg.result();
    expect(weight).toBe(1000);
    expect(maxDiff(mean, weightedMean(vs.map((v, k) => ({ v, n: ns[k] as number }))))).toBeLessThan(1e-7);
    expect(agg.evaluation).toEqual({ correct: 12, count: 16 });
  });

  test("equals the exact weighted mean of the dequantised values for int8 (and mixed) updates, streamed", async () => {
    const agg = createAggregator(opts);
    const encs: UpdateEncoding[] = ["int8", "float32", "int8", "int8"];
    for (let k = 0; k < 4; k++) {
      const bytes = upd(vs[k] as Float32Array, ns[k] as number, encs[k]);
      expect((await agg.add(`c${k}`, stream(bytes, 4099))).ok).toBe(true);
    }
    const ref = weightedMean(
      vs.map((v, k) => ({ v: encs[k] === "int8" ? dequant(v) : v, n: ns[k] as number })),
    );
    expect(maxDiff(agg.result().mean, ref)).toBeLessThan(1e-7);
    // And int8 stays close to the float result: within one quantisation step of the largest chunk.
    expect(
      maxDiff(agg.result().mean, weightedMean(vs.map((v, k) => ({ v, n: ns[k] as number })))),
    ).toBeLessThan(0.5 / 127);
  });

  test("a refused update (NaN in its last block, wrong shape, duplicate) does not change the result", async () => {
    const clean = createAggregator(opts);
    const dirty = createAggregator(opts);
    await clean.add("a", upd(vs[0] as Float32Array, 10));
    await dirty.add("a", upd(vs[0] as Float32Array, 10));
    const poisoned = Float32Array.from(vs[1] as Float32Array);
    poisoned[P - 1] = Number.NaN;
    const r1 = await dirty.add("b", stream(upd(poisoned, 500), 1000));
    expect(r1).toEqual({ ok: false, reason: `weight ${P - 1} is not a finite number` });
    const r2 = await dirty.add(
      "c",
      new Uint8Array(upd(vs[1] as Float32Array, 5).subarray(0, HEADER_BYTES + 8)),
    );
    expect(r2.ok).toBe(false);
    const r3 = await dirty.add("a", upd(vs[2] as Float32Array, 10));
    expect(r3).toEqual({ ok: false, reason: "an update from this client was already accepted" });
    expect(dirty.result()).toEqual(clean.result());
    expect(dirty.clients).toEqual(["a"]);
  });

  test("refuses a plain update larger than the clip norm, accepts a clipped one", async () => {
    const agg = createAggregator({ ...opts, clipNorm: 1 });
    const big = Float32Array.from(vs[0] as Float32Array);
    const res = await agg.add("a", upd(big, 10));
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.reason).toMatch(/exceeds the round's clip 1/);
    clipL2(big, 1);
    expect((await agg.add("a", upd(big, 10))).ok).toBe(true);
    expect((await agg.add("b", upd(big, 10, "int8"))).ok).toBe(true);
  });
});
