import { describe, expect, test } from "bun:test";
import {
  appendMany,
  digestOf,
  type FleetNode,
  makeFleet,
  type StoreKind,
  sync,
} from "./sync-node.test-helper.ts";
import { decodeFrame, encodeFrame, type Frame } from "./wire.ts";

const verifyAll = (n: FleetNode, authorsOf: FleetNode[]) =>
  authorsOf.map((a) => n.log.verifyLog(a.fp, a.keys.signingPublicKey));

for (const kind of ["memory", "sqlite"] as StoreKind[]) {
  describe(`sync between two nodes (${kind} store)`, () => {
    test("the receiver gets every missing block verified, then an idle check is one small round trip", async () => {
      const fleet = makeFleet(["a", "b"], kind);
      const [a, b] = fleet.nodes as [FleetNode, FleetNode];
      appendMany(a, 120, 7);
      appendMany(b, 5, 5);
      const first = await sync(fleet, b, a, { batchBytes: 512 });
      expect(first.refused).toEqual([]);
      expect(first.received).toBe(120);
      expect(first.roundTrips).toBe(2);
      expect(b.store.length(a.fp)).toBe(120);
      expect(verifyAll(b, [a])).toEqual([{ ok: true, length: 120, signedLength: 120 }]);

      const back = await sync(fleet, a, b);
      expect(back.received).toBe(5);
      expect(digestOf(a)).toBe(digestOf(b));

      const idle = await sync(fleet, b, a);
      expect(idle).toMatchObject({ inSync: true, roundTrips: 1, received: 0 });
      expect(idle.bytesSent + idle.bytesReceived).toBeLessThanOrEqual(400);
    });
  });
}

describe("sync among three nodes", () => {
  test("knowledge spreads through a middle node, survives a partition mid-stream and resumes on rejoin", async () => {
    const fleet = makeFleet(["a", "b", "c"]);
    const [a, b, c] = fleet.nodes as [FleetNode, FleetNode, FleetNode];
    appendMany(a, 300, 25, 40);
    appendMany(c, 30, 3);
    // The link drops after a few batches: what arrived is stored and verified, the rest is not.
    const cut = await sync(fleet, b, a, { batchBytes: 1024, cutAfterFrames: 4 });
    const partial = b.store.length(a.fp);
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(300);
    expect(cut.behind).toEqual([a.fp]);
    expect(b.log.verifyLog(a.fp, a.keys.signingPublicKey).ok).toBe(true);
    // c learns a's log from b while b is still partial, then everything converges after rejoin.
    await sync(fleet, c, b);
    expect(c.store.length(a.fp)).toBe(0); // b serves only what a signed root covers
    const rejoin = await sync(fleet, b, a, { batchBytes: 1024 });
    expect(rejoin.received).toBe(300 - partial);
    for (const [to, from] of [
      [b, c],
      [c, b],
      [a, b],
    ] as const)
      await sync(fleet, to, from);
    expect(new Set([digestOf(a), digestOf(b), digestOf(c)]).size).toBe(1);
    // c never met a: it learned a's key from a's enrolment certificate relayed by b.
    expect(c.authors.get(a.fp)?.certificate).toBeDefined();
    expect(verifyAll(c, [a, b, c]).every((v) => v.ok)).toBe(true);
  });
});

/** Rewrites frames of one kind from the serving side, as a malicious or broken peer would. */
function rewrite(kind: Frame["kind"], change: (f: Frame) => Frame) {
  return (bytes: Uint8Array) => {
    const d = decodeFrame(bytes);
    return d.ok && d.frame.kind === kind ? encodeFrame(change(d.frame)) : bytes;
  };
}

const flip = (b: Uint8Array, at = 0) => {
  const out = b.slice();
  out[at] = (out[at] ?? 0) ^ 1;
  return out;
};

describe("a dishonest peer is refused and nothing it sent is stored", () => {
  const setup = () => {
    const fleet = makeFleet(["honest", "liar", "victim"]);
    const [honest, liar, victim] = fleet.nodes as [FleetNode, FleetNode, FleetNode];
    appendMany(honest, 60, 20, 30);
    return { fleet, honest, liar, victim };
  };

  const cases: [string, (f: Frame) => Frame, Frame["kind"], RegExp][] = [
    [
      "tampered block",
      (f) => {
        if (f.kind !== "batch") return f;
        const entries = f.batch.entries.map((e, i) => (i === 3 ? { ...e, body: flip(e.body, 5) } : e));
        return { ...f, batch: { ...f.batch, entries } };
      },
      "batch",
      /do not prove against its signed root/,
    ],
    [
      "tampered proof",
      (f) =>
        f.kind === "batch"
          ? { ...f, batch: { ...f.batch, proof: f.batch.proof.map((p, i) => (i === 0 ? flip(p) : p)) } }
          : f,
      "batch",
      /do not prove against its signed root/,
    ],
    [
      "forged signature",
      (f) =>
        f.kind === "heads"
          ? { ...f, heads: f.heads.map((h) => ({ ...h, signature: flip(h.signature, 10) })) }
          : f,
      "heads",
      /bad signature/,
    ],
    [
      "wrong author on the blocks",
      (f) => (f.kind === "batch" ? { ...f, batch: { ...f.batch, author: "0".repeat(32) } } : f),
      "batch",
      /not asked for/,
    ],
  ];

  for (const [name, change, kind, reason] of cases) {
    test(`${name}: refused with a reason, score drops, audited once`, async () => {
      const { fleet, honest, liar, victim } = setup();
      await sync(fleet, liar, honest);
      for (let round = 0; round < 2; round++) {
        const r = await sync(fleet, victim, liar, { batchBytes: 600, tamper: rewrite(kind, change) });
        expect(r.refused.length).toBeGreaterThan(0);
        expect(r.refused[0]).toMatch(reason);
      }
      // Batches before the tampered one may be stored; they verified. Nothing unverified is.
      expect(victim.log.verifyLog(honest.fp, honest.keys.signingPublicKey).ok).toBe(true);
      expect(victim.scores.score(liar.fp)).toBeLessThan(0);
      expect(victim.audited.filter((a) => reason.test(a))).toHaveLength(1);
      const clean = await sync(fleet, victim, honest);
      expect(clean.refused).toEqual([]);
      expect(digestOf(victim)).toBe(digestOf(honest));
    });
  }

  test("a certificate of another author is refused, and one from another fleet too", async () => {
    const { fleet, honest, liar, victim } = setup();
    await sync(fleet, liar, honest);
    const wrongCert = rewrite("author", (f) =>
      f.kind === "author" ? { ...f, certificate: liar.authors.get(liar.fp)?.certificate ?? "" } : f,
    );
    const r = await sync(fleet, victim, liar, { tamper: wrongCert });
    expect(r.refused[0]).toMatch(/certificate for .* refused: it is for/);
    expect(victim.store.length(honest.fp)).toBe(0);

    const stranger = makeFleet(["x"]).nodes[0] as FleetNode;
    appendMany(stranger, 3, 3);
    const s = await sync(fleet, victim, stranger);
    expect(s.refused[0]).toMatch(/bad-signature|wrong-fleet/);
    expect(victim.store.length(stranger.fp)).toBe(0);
  });

  test("a replayed batch from an earlier session is refused as out of order", async () => {
    const { fleet, honest, liar, victim } = setup();
    await sync(fleet, liar, honest);
    let captured: Uint8Array | undefined;
    await sync(fleet, victim, liar, {
      tamper: (bytes) => {
        const d = decodeFrame(bytes);
        if (d.ok && d.frame.kind === "batch") captured ??= bytes;
        return bytes;
      },
    });
    appendMany(honest, 5, 5);
    await sync(fleet, liar, honest);
    const replay = await sync(fleet, victim, liar, {
      tamper: (bytes) => {
        const d = decodeFrame(bytes);
        return d.ok && d.frame.kind === "batch" && captured ? captured : bytes;
      },
    });
    expect(replay.refused[0]).toMatch(/replayed or out-of-order/);
    expect(victim.store.length(honest.fp)).toBe(60);
  });

  test("two different signed roots at one length are evidence of a fork and are refused", async () => {
    const { fleet, honest, liar, victim } = setup();
    await sync(fleet, victim, honest);
    await sync(fleet, liar, honest);
    const forked = rewrite("heads", (f) =>
      f.kind === "heads" ? { ...f, heads: f.heads.map((h) => ({ ...h, root: flip(h.root) })) } : f,
    );
    appendMany(liar, 1, 1); // so the digests differ and heads are sent
    const r = await sync(fleet, victim, liar, { tamper: forked });
    expect(r.refused.some((x) => /two different signed roots/.test(x))).toBe(true);
  });
});
