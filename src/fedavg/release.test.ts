// Release records on the chain: written and read back, refused when malformed (other devices'
// words), listed as rows from chain blocks; model files survive a round trip and refuse the wrong
// shape; the verifier scores windows with the released weights.
import { afterAll, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../identity/test-fleet.test-helper.ts";
import { loadModel, saveModel } from "./adapters/model-file.ts";
import type { ReleaseRecord } from "./coordinator.ts";
import { WAKE_FEATURES } from "./features.ts";
import { paramCount } from "./model.ts";
import { MODEL_RELEASE_TYPE, parseReleaseBody, releaseBlockBody, wakeVerifier } from "./release.ts";
import { releaseRows, roundRow } from "./view.ts";

const dir = tempDir("kiana-fedavg-release-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const spec = { kind: "logistic" as const, inputs: WAKE_FEATURES, hidden: 0 };
const record: ReleaseRecord = {
  round: 3,
  version: 3,
  hash: "ab".repeat(32),
  participants: ["11".repeat(16), "22".repeat(16)],
  metrics: {
    accuracyBefore: 0.9,
    examples: 128,
    refused: 0,
    dropped: 0,
    secure: false,
    clipNorm: 5,
    noiseMultiplier: 0,
  },
};
const text = (b: Uint8Array) => new TextDecoder().decode(b);

test("a release body round-trips and stays small; malformed bodies are refused", () => {
  const body = releaseBlockBody("wake", spec, record);
  expect(body.length).toBeLessThan(1024);
  expect(parseReleaseBody(text(body))).toEqual({ v: 1, task: "wake", spec, ...record });
  const good = JSON.parse(text(body));
  for (const bad of [
    "not json",
    JSON.stringify({ ...good, hash: "xyz" }),
    JSON.stringify({ ...good, spec: { kind: "mlp", inputs: 4, hidden: 0 } }),
    JSON.stringify({ ...good, metrics: { ...good.metrics, accuracyBefore: 2 } }),
    JSON.stringify({ ...good, extra: undefined, v: 2 }),
  ])
    expect(parseReleaseBody(bad)).toBeNull();
  expect(parseReleaseBody(undefined)).toBeNull();
});

test("release rows come from model-release blocks only, skipping malformed ones", () => {
  const body = text(releaseBlockBody("wake", spec, record));
  const rows = releaseRows([
    { author: "aa".repeat(16), seq: 4, ts: 10, type: MODEL_RELEASE_TYPE, text: body },
    { author: "aa".repeat(16), seq: 3, ts: 9, type: "knowledge", text: body },
    { author: "bb".repeat(16), seq: 0, ts: 8, type: MODEL_RELEASE_TYPE, text: "{}" },
    { author: "bb".repeat(16), seq: 1, ts: 8, type: MODEL_RELEASE_TYPE },
  ]);
  expect(rows).toHaveLength(1);
  expect(rows[0]).toMatchObject({ author: "aa".repeat(16), seq: 4, round: 3, version: 3 });
  const row = roundRow(
    {
      round: 3,
      phase: "released",
      invited: 2,
      cohort: record.participants,
      accepted: record.participants,
      refusals: [],
      release: record,
    },
    100,
    200,
  );
  expect(row).toMatchObject({ round: 3, examples: 128, accuracyBefore: 0.9, version: 3, failure: null });
});

test("model files round-trip by hash; a file of the wrong shape or garbage is refused with a reason", () => {
  const p = new Float32Array(paramCount(spec)).map((_, i) => (i % 7) / 10);
  const path = join(dir, "model.kfm");
  const saved = saveModel(path, 4, p);
  const loaded = loadModel(path, p.length);
  expect(loaded.model).toEqual(saved);
  expect(loadModel(path, p.length + 1)).toMatchObject({
    model: null,
    problem: expect.stringMatching(/weights/),
  });
  writeFileSync(path, "garbage");
  expect(loadModel(path, p.length)).toMatchObject({
    model: null,
    problem: expect.stringMatching(/not a FedAvg model/),
  });
  expect(loadModel(join(dir, "absent.kfm"), 3)).toEqual({ model: null });
});

test("the verifier scores a window with the released weights", () => {
  const p = new Float32Array(paramCount(spec));
  p[0] = 16; // one embedding value, divided by 16 in the features, drives the score
  const verify = wakeVerifier(spec, p);
  const window = new Float32Array(WAKE_FEATURES);
  expect(verify(window)).toBeCloseTo(0.5, 6);
  window[0] = 4;
  expect(verify(window)).toBeGreaterThan(0.98);
  window[0] = -4;
  expect(verify(window)).toBeLessThan(0.02);
  expect(() => wakeVerifier(spec, new Float32Array(3))).toThrow(/weights/);
});
