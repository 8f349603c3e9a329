// 100 000 random and mutated sync frames: each is decoded to a frame or refused with a reason,
// never thrown; accepted batches then go through the receiver, which stores only what proves.
import { expect, test } from "bun:test";
import { seededRandom } from "../../identity/test-fleet.test-helper.ts";
import { mutate } from "../fuzz.test-helper.ts";
import { localHeads } from "./heads.ts";
import { applyBatch } from "./receiver.ts";
import { appendMany, type FleetNode, makeFleet } from "./sync-node.test-helper.ts";
import { decodeFrame, encodeFrame, type Frame } from "./wire.ts";

const TOTAL = 100_000;

test(`${TOTAL} random and mutated sync frames: refused or accepted, never thrown`, () => {
  const rand = seededRandom(7_2026);
  const fleet = makeFleet(["src", "dst"]);
  const [src, dst] = fleet.nodes as [FleetNode, FleetNode];
  appendMany(src, 40, 40, 20);
  const head = localHeads(src.store)[0];
  if (!head) throw new Error("no head");
  const entries = [...src.store.blocks(src.fp, 0, 40)].map(({ block }) => ({
    ts: block.ts,
    type: block.type,
    body: block.body,
  }));
  const valid: Frame[] = [
    { kind: "hello", digest: rand(32), authors: 3 },
    { kind: "inSync" },
    { kind: "heads", heads: [head] },
    { kind: "fetch", window: 8, ranges: [{ author: src.fp, from: 0, to: 40, needCertificate: true }] },
    { kind: "author", author: src.fp, certificate: src.authors.get(src.fp)?.certificate ?? "" },
    { kind: "batch", batch: { author: src.fp, from: 0, target: 40, proof: [], entries } },
    { kind: "more", credits: 2 },
    { kind: "done" },
    { kind: "error", reason: "busy" },
  ];
  const encoded = valid.map(encodeFrame);
  for (const [i, bytes] of encoded.entries())
    expect(decodeFrame(bytes)).toEqual({ ok: true, frame: valid[i] as Frame });

  const counts = { accepted: 0, refused: 0, stored: 0 };
  for (let i = 0; i < TOTAL; i++) {
    const input = mutate(encoded[i % encoded.length] as Uint8Array, rand, Math.floor(i / encoded.length));
    const d = decodeFrame(input);
    if (!d.ok) {
      expect(typeof d.reason).toBe("string");
      counts.refused++;
      continue;
    }
    counts.accepted++;
    // Whatever decodes re-encodes to something that decodes to the same frame.
    expect(decodeFrame(encodeFrame(d.frame))).toEqual(d);
    if (d.frame.kind === "batch" && d.frame.batch.author === src.fp) {
      const verdict = applyBatch(dst.store, d.frame.batch, head);
      if (verdict.ok) counts.stored += verdict.stored;
    }
  }
  console.log(`sync fuzz: ${JSON.stringify(counts)}`);
  expect(counts.accepted + counts.refused).toBe(TOTAL);
  expect(counts.refused).toBeGreaterThan(TOTAL / 2);
  // Only the unmodified batch can prove against the signed head; mutated ones never store.
  expect(dst.log.verifyLog(src.fp, src.keys.signingPublicKey).ok).toBe(true);
  expect([0, 40]).toContain(dst.store.length(src.fp));
}, 120_000);
