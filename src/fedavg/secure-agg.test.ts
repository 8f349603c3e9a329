// Secure aggregation: pairwise masks from real X25519 agreements cancel exactly in the sum, the
// coordinator recovers the sum when one client drops out, and a masked update alone looks random.
import { describe, expect, test } from "bun:test";
import { createAggregator } from "./aggregator.ts";
import { fixedPointScale, maskSign, maskUpdate, pairSeed, toFixedPoint } from "./secure-agg.ts";
import { pseudoFloats, testIdentity } from "./test-keys.test-helper.ts";
import { encodeUpdate, HEADER_BYTES } from "./update-codec.ts";

const P = 30_000;
const ids = [0, 1, 2, 3].map(() => testIdentity());
const cohort = ids.map((i) => ({ fingerprint: i.fingerprint, agreementKey: i.agreementPublicKey }));
const deltas = ids.map((_, k) => pseudoFloats(P, k + 10, 0.001));
const ns = [12, 40, 7, 100];
const scale = fixedPointScale(10, 1000, 0.1);

function masked(k: number): Uint32Array {
  const id = ids[k] as (typeof ids)[number];
  const fixed = toFixedPoint(deltas[k] as Float32Array, ns[k] as number, scale, 1000);
  maskUpdate(fixed, id, id.fingerprint, cohort, "7");
  return fixed;
}
const aggregator = () =>
  createAggregator({
    round: 7,
    modelVersion: 0,
    params: P,
    encodings: ["masked"],
    maxExamples: 1000,
    maxBytes: HEADER_BYTES + 4 * (P + 1),
    fixedPointScale: scale,
  });
const bytesOf = (v: Uint32Array) =>
  encodeUpdate(
    {
      encoding: "masked",
      round: 7,
      modelVersion: 0,
      params: P,
      examples: 0,
      chunk: 0,
      evalCount: 0,
      evalCorrect: 0,
    },
    v,
  );

function expectWeightedMean(mean: Float32Array, members: number[]) {
  const total = members.reduce((s, k) => s + (ns[k] as number), 0);
  let worst = 0;
  for (let i = 0; i < P; i++) {
    let ref = 0;
    for (const k of members) ref += ((ns[k] as number) * ((deltas[k] as Float32Array)[i] ?? 0)) / total;
    worst = Math.max(worst, Math.abs((mean[i] ?? 0) - ref));
  }
  // Fixed-point rounding: at most half a step per client.
  expect(worst).toBeLessThanOrEqual(members.length / scale / total);
}

describe("secure aggregation", () => {
  test("both ends of a pair derive the same seed, and it differs per round", () => {
    const [a, b] = [ids[0], ids[1]] as [(typeof ids)[0], (typeof ids)[0]];
    const ab = pairSeed(a, a.fingerprint, cohort[1] as (typeof cohort)[0], "7");
    expect(pairSeed(b, b.fingerprint, cohort[0] as (typeof cohort)[0], "7")).toEqual(ab);
    expect(pairSeed(a, a.fingerprint, cohort[1] as (typeof cohort)[0], "8")).not.toEqual(ab);
  });

  test("masks cancel exactly: the masked sum equals the unmasked fixed-point sum bit for bit", () => {
    const plainSum = new Uint32Array(P + 1);
    const maskedSum = new Uint32Array(P + 1);
    for (let k = 0; k < 4; k++) {
      const plain = toFixedPoint(deltas[k] as Float32Array, ns[k] as number, scale, 1000);
      const m = masked(k);
      let same = 0;
      for (let i = 0; i < P; i++) if (m[i] === plain[i]) same++;
      // A masked update on its own reveals nothing recognisable.
      expect(same).toBeLessThan(10);
      for (let i = 0; i <= P; i++) {
        plainSum[i] = ((plainSum[i] ?? 0) + (plain[i] ?? 0)) >>> 0;
        maskedSum[i] = ((maskedSum[i] ?? 0) + (m[i] ?? 0)) >>> 0;
      }
    }
    expect(maskedSum).toEqual(plainSum);
    expect(maskedSum[P]).toBe(159);
  });

  test("the aggregator's result is the weighted mean when everyone sends", async () => {
    const agg = aggregator();
    for (let k = 0; k < 4; k++) expect((await agg.add(`c${k}`, bytesOf(masked(k)))).ok).toBe(true);
    const { mean, weight } = agg.result();
    expect(weight).toBe(159);
    expectWeightedMean(mean, [0, 1, 2, 3]);
  });

  test("one dropped client: survivors reveal their seeds with it and the sum of the rest is recovered", async () => {
    const agg = aggregator();
    const dropped = 2;
    const survivors = [0, 1, 3];
    const unrecovered = aggregator();
    for (const k of survivors) {
      await agg.add(`c${k}`, bytesOf(masked(k)));
      await unrecovered.add(`c${k}`, bytesOf(masked(k)));
    }
    // Without recovery the result is garbage (the dropped client's masks remain).
    expect(unrecovered.result().weight).not.toBe(152);
    for (const k of survivors) {
      const s = ids[k] as (typeof ids)[number];
      const d = cohort[dropped] as (typeof cohort)[number];
      agg.unmask(pairSeed(s, s.fingerprint, d, "7"), maskSign(s.fingerprint, d.fingerprint));
    }
    const { mean, weight } = agg.result();
    expect(weight).toBe(152);
    expectWeightedMean(mean, survivors);
  });
});
