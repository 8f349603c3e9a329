// 100 000 random and mutated inputs to the decoders that take bytes from peers (chain blocks, mesh
// envelopes): each must be refused or accepted cleanly, never throw, never hang.
import { expect, test } from "bun:test";
import { enrolNode, seededRandom, T0, testFleet } from "../identity/test-fleet.test-helper.ts";
import { decodeEnvelope, openEnvelope, sealEnvelope } from "../mesh/envelope.ts";
import { createMemoryReplayGuard } from "../mesh/replay-guard.ts";
import { type Block, decodeBlock, encodeBlock, leafHash, ZERO_HASH } from "./block.ts";
import { mutate } from "./fuzz.test-helper.ts";

const TOTAL = 100_000;

test(`${TOTAL} random and mutated blocks and envelopes: refused or accepted, never thrown`, () => {
  const rand = seededRandom(20261122);
  const authority = testFleet("home", T0);
  const node = enrolNode(authority, "kitchen", { now: T0 });
  const block: Block = {
    author: node.fp,
    seq: 0,
    prev: ZERO_HASH,
    ts: T0 + 1000,
    type: "knowledge",
    body: new TextEncoder().encode("the garden gate sticks when it rains"),
  };
  const validBlock = encodeBlock(block);
  const validEnvelope = sealEnvelope({
    keys: node.keys,
    seq: 1,
    now: T0 + 1000,
    type: "heartbeat",
    body: validBlock,
  });
  const counts = { blockOk: 0, blockRefused: 0, envelopeOk: 0, envelopeRefused: 0 };
  const replay = createMemoryReplayGuard();
  const started = performance.now();

  for (let i = 0; i < TOTAL; i++) {
    const r = rand(1)[0] ?? 0;
    if (i % 2 === 0) {
      const input = mutate(validBlock, rand, r);
      const d = decodeBlock(input);
      if (d.ok) {
        counts.blockOk++;
        // An accepted mutation is a different block, or exactly the original.
        const same = Buffer.from(leafHash(d.value)).equals(Buffer.from(leafHash(block)));
        expect(same).toBe(Buffer.from(encodeBlock(d.value)).equals(Buffer.from(validBlock)));
      } else {
        counts.blockRefused++;
        expect(typeof d.reason).toBe("string");
      }
    } else {
      const input = mutate(validEnvelope, rand, r);
      const decoded = decodeEnvelope(input);
      const opened = openEnvelope(input, {
        roster: (fp) => (fp === node.fp ? node.cert : undefined),
        fleetPublicKey: authority.publicKey,
        now: T0 + 1000,
        replay,
      });
      if (opened.ok) counts.envelopeOk++;
      else counts.envelopeRefused++;
      // Nothing that fails to decode can open; a forged body never verifies.
      if (!decoded.ok) expect(opened.ok).toBe(false);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  expect(counts.blockOk + counts.blockRefused + counts.envelopeOk + counts.envelopeRefused).toBe(TOTAL);
  expect(counts.blockRefused).toBeGreaterThan(TOTAL / 4);
  // The one valid envelope can open at most once (replay guard); mutations must not verify.
  expect(counts.envelopeOk).toBeLessThanOrEqual(1);
  console.log(`fuzz: ${JSON.stringify(counts)} in ${seconds.toFixed(1)} s`);
}, 120_000);
