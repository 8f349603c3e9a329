// Five households train the wake-word verifier over the in-memory mesh bus on real (espeak-ng +
// openWakeWord) embeddings: the federated model must come within 2 points of one trained centrally
// on the union, and nothing that crosses the bus may carry a raw example.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createMemoryFedavgTransport, settle } from "./adapters/memory.ts";
import { WAKE_FEATURES, wakeFeatures } from "./features.ts";
import { createFederation, type Federation, HUB, settingsFor } from "./federation.test-helper.ts";
import { decodeControl, encodeControl, isModelBytes } from "./messages.ts";
import { initParams, type ModelSpec, paramCount } from "./model.ts";
import { createRng } from "./rng.ts";
import { type Example, evaluate, train } from "./trainer.ts";
import { encodedBytes, encodeUpdate } from "./update-codec.ts";
import { buildWakeDataset, HOUSEHOLDS } from "./wake-dataset.test-helper.ts";

const spec: ModelSpec = { kind: "logistic", inputs: WAKE_FEATURES, hidden: 0 };
const P = paramCount(spec);
let households: Example[][] = [];
let testSet: Example[] = [];

beforeAll(async () => {
  const data = await buildWakeDataset();
  const ex = (e: (typeof data)[number]): Example => ({ x: wakeFeatures(e.window), y: e.label });
  households = Array.from({ length: HOUSEHOLDS }, (_, h) => data.filter((e) => e.household === h).map(ex));
  testSet = data.filter((e) => e.household < 0).map(ex);
}, 120_000);

describe("federated wake-word verifier", () => {
  let fed: Federation;
  afterAll(() => fed?.stop());

  test("12 rounds of FedAvg (int8 updates) reach the centrally trained accuracy within 2 points", async () => {
    fed = await createFederation({ spec, households });
    const perRound: string[] = [];
    for (let r = 0; r < 12; r++) {
      const status = await fed.round({});
      expect(status.phase).toBe("released");
      expect(status.release?.participants).toHaveLength(5);
      perRound.push(`${r + 1}:${(evaluate(spec, fed.global(), testSet).accuracy * 100).toFixed(1)}`);
    }
    // Every device holds the released model, byte for byte.
    for (const c of fed.clients) expect(c.current()?.params).toEqual(fed.global());
    const settings = settingsFor(spec);
    const union = households.flat();
    const central = train(spec, initParams(spec, createRng(1)), union, { ...settings, epochs: 10, seed: 1 });
    const centralAcc = evaluate(spec, central, testSet).accuracy;
    const fedAcc = evaluate(spec, fed.global(), testSet).accuracy;
    const local = households.map(
      (h) =>
        evaluate(
          spec,
          train(spec, initParams(spec, createRng(1)), h, { ...settings, epochs: 10, seed: 1 }),
          testSet,
        ).accuracy,
    );
    console.log(
      `wake verifier test accuracy (${testSet.length} clips): federated ${(fedAcc * 100).toFixed(1)} %, central ` +
        `${(centralAcc * 100).toFixed(1)} %, local-only ${local.map((a) => (a * 100).toFixed(1)).join("/")} %; per round ${perRound.join(" ")}`,
    );
    expect(fedAcc).toBeGreaterThanOrEqual(centralAcc - 0.02);
    // Federation is worth it: better than what the best household learns alone.
    expect(fedAcc).toBeGreaterThan(Math.max(...local));
    // The coordinator's per-round metric (clients' own data, before training) improves too.
    const hist = fed.coordinator.history();
    expect(hist.at(-1)?.release?.metrics.accuracyBefore).toBeGreaterThan(
      hist[0]?.release?.metrics.accuracyBefore ?? 1,
    );
  }, 60_000);

  test("nothing that crossed the bus carries a raw example", () => {
    const examples = households.flat();
    let updates = 0;
    for (const { topic, payload } of fed.bus.log) {
      const kind = topic.split("/")[3];
      if (kind === "c") {
        const d = decodeControl(payload);
        expect(d.ok).toBe(true);
        expect(payload.length).toBeLessThan(2048);
      } else if (isModelBytes(payload)) {
        expect(topic.split("/")[2]).toBe(HUB);
        expect(payload.length).toBe(12 + 4 * P);
      } else {
        updates++;
        expect(topic.split("/")[1]).toBe(HUB);
        expect(payload.length).toBe(encodedBytes({ encoding: "int8", params: P, chunk: 256 }));
      }
      // No 32-byte run of any example's features appears anywhere in any payload.
      const buf = Buffer.from(payload);
      for (const e of examples) expect(buf.indexOf(Buffer.from(e.x.buffer, e.x.byteOffset, 32))).toBe(-1);
    }
    expect(updates).toBe(5 * 12);
  });
});

describe("rounds with faults", () => {
  test("secure aggregation with one client dropping out equals the plain average of the other four", async () => {
    const small = households.map((h) => h.slice(0, 30));
    const drop = await createFederation({
      spec,
      households: small,
      clientOptions: (k) => ({ dropBeforeUpdate: () => k === 2 }),
    });
    const secure = await drop.round({ secure: true });
    expect(secure.phase).toBe("released");
    expect(secure.release?.metrics).toMatchObject({ dropped: 1, secure: true });
    expect(secure.release?.participants).toHaveLength(4);
    const survivors = drop.fingerprints.filter((_, k) => k !== 2);
    // The same round, plain float32, with only the four survivors (training is deterministic).
    const plain = await createFederation({
      spec,
      households: small.filter((_, k) => k !== 2),
      // The same training seeds as the survivors had (client k trains with seed k + 1).
      clientOptions: (k) => ({ seed: [1, 2, 4, 5][k] as number }),
    });
    await plain.round({ encoding: "float32", maxClients: 4 });
    let worst = 0;
    for (let i = 0; i < P; i++)
      worst = Math.max(worst, Math.abs((drop.global()[i] ?? 0) - (plain.global()[i] ?? 0)));
    expect(worst).toBeLessThan(1e-4);
    expect(secure.release?.participants).toEqual(survivors);
    drop.stop();
    plain.stop();
  }, 30_000);

  test("malformed, oversized and wrong-shape updates are refused with a reason and do not poison the round", async () => {
    const small = households.map((h) => h.slice(0, 30));
    const honest = await createFederation({ spec, households: small.slice(0, 4) });
    await honest.round({ encoding: "float32" });
    const fed = await createFederation({ spec, households: small.slice(0, 4) });
    // A fifth, enrolled but hostile device: joins, then sends garbage instead of an update.
    const rogueFp = "0bad0bad0bad0bad0bad0bad0bad0bad";
    const rogue = createMemoryFedavgTransport(fed.bus, rogueFp);
    const reasons: string[] = [];
    rogue.listen({
      control(_from, bytes) {
        const d = decodeControl(bytes);
        if (!d.ok) return;
        if (d.msg.t === "announce")
          void rogue.send(HUB, encodeControl({ t: "join", round: d.msg.settings.round }));
        if (d.msg.t === "refused") reasons.push(d.msg.reason);
        if (d.msg.t !== "cohort") return;
        const h = {
          round: d.msg.round,
          modelVersion: 0,
          examples: 10,
          chunk: 0,
          evalCount: 0,
          evalCorrect: 0,
        };
        void rogue.sendBulk(
          HUB,
          encodeUpdate({ ...h, encoding: "float32", params: P - 1 }, new Float32Array(P - 1)),
        );
        void rogue.sendBulk(HUB, new Uint8Array(20 * P));
        void rogue.sendBulk(
          HUB,
          encodeUpdate({ ...h, encoding: "float32", params: P }, new Float32Array(P).fill(Number.NaN)),
        );
        void rogue.sendBulk(
          HUB,
          encodeUpdate({ ...h, encoding: "float32", params: P }, new Float32Array(P).fill(1)),
        );
      },
      bulk() {},
    });
    await settle();
    const status = await fed.round({ encoding: "float32" }, [...fed.fingerprints, rogueFp]);
    expect(status.phase).toBe("released");
    expect(status.cohort).toContain(rogueFp);
    expect(status.release?.participants).toEqual(fed.fingerprints);
    expect(reasons).toEqual([
      `update has ${P - 1} weights, the model has ${P}`,
      expect.stringMatching(/exceeds the limit/),
      "weight 0 is not a finite number",
      expect.stringMatching(/exceeds the round's clip/),
    ]);
    expect(fed.global()).toEqual(honest.global());
    fed.stop();
    honest.stop();
  }, 30_000);
});
