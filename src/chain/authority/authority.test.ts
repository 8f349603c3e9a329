// End to end: four devices with their own keys and SQLite stores finalise checkpoints, add a
// validator by vote and move trust, with logs copied between stores standing in for sync.
import { afterAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../identity/test-fleet.test-helper.ts";
import { copyAll, copyLog, type Device, makeKeys, openDevice, text } from "./authority.test-helper.ts";
import { encodeCheckpoint } from "./bodies.ts";

const { keys, cleanup } = makeKeys(4);
const dir = tempDir("kiana-authority-db-");
const open: Device[] = [];
afterAll(() => {
  for (const d of open) d.db.close();
  rmSync(dir, { recursive: true, force: true });
  cleanup();
});
const [A, B, C, D] = keys.map((k) => k.fingerprint) as [string, string, string, string];
const device = (i: number, genesis: string[], opts: { proposeTimeoutMs?: number } = {}) => {
  const d = openDevice(keys[i] as Device["keys"], genesis, {
    path: join(dir, `${i}-${open.length}.db`),
    ...opts,
  });
  open.push(d);
  return d;
};
const notValidator = expect.objectContaining({ code: "CHAIN_NOT_VALIDATOR" });

describe("three devices, each with its own keys and SQLite store", () => {
  const [a, b, c, d] = [0, 1, 2, 3].map((i) => device(i, [A, B, C])) as [Device, Device, Device, Device];
  /** Every device's logs into every other's, as sync would. */
  const syncAll = (...ds: Device[]) => {
    for (const from of ds) for (const to of ds) if (from !== to) copyAll(from.chainStore, to.chainStore);
  };
  let first = "";

  test("A proposes height 1, B endorses it, and it is final with 2 of 3", () => {
    a.chain.append("knowledge", text("the kettle is in the kitchen"));
    b.chain.append("knowledge", text("the cat is called Miso"));
    copyAll(b.chainStore, a.chainStore);
    const proposal = a.authority.proposeCheckpoint();
    expect(proposal).toMatchObject({ height: 1, created: true });
    expect(a.authority.proposeCheckpoint()).toEqual({ ...proposal, created: false });
    first = proposal.id;

    // C holds A's log but not B's, which the proposal records: it leaves the proposal pending.
    copyLog(a.chainStore, c.chainStore, A);
    expect(c.authority.endorsePending()).toEqual({ reason: `waiting for ${B}'s log up to 1` });
    copyLog(a.chainStore, b.chainStore, A);
    expect(b.authority.endorsePending()).toEqual({ endorsed: first, height: 1 });
    // B holds both signatures now, so for B height 1 is final and the next height has nothing yet.
    expect(b.authority.endorsePending()).toEqual({ reason: "no proposal at height 2" });

    copyAll(b.chainStore, a.chainStore);
    const status = a.authority.status();
    const final = { height: 1, id: first, proposer: A, signers: 2, final: true, heads: 2 };
    expect(status).toMatchObject({
      majority: 2,
      pending: 0,
      lastFinal: final,
      latest: final,
      equivocations: [],
    });
    expect(status.validators).toEqual([
      { fingerprint: A, self: true, sinceHeight: 1 },
      { fingerprint: B, self: false, sinceHeight: 1 },
      { fingerprint: C, self: false, sinceHeight: 1 },
    ]);
    // C has not seen B's endorsement yet: for C the proposal is still pending.
    expect(c.authority.status()).toMatchObject({
      lastFinal: undefined,
      pending: 1,
      latest: { signers: 1, final: false },
    });
  });

  test("a fourth device is no validator until votes covered by a final checkpoint add it", () => {
    expect(d.authority.isValidator(D)).toBe(false);
    expect(() => d.authority.proposeCheckpoint()).toThrow(notValidator);
    expect(() => d.authority.vote("add-validator", D)).toThrow(notValidator);
    expect(() => d.authority.endorsePending()).toThrow(notValidator);

    a.authority.vote("add-validator", D);
    c.authority.vote("add-validator", D);
    syncAll(a, b, c);
    // Height 2 is C's turn (validators in fingerprint order, 2 mod 3); the others wait for it.
    expect(a.authority.tick()).toEqual({});
    const proposed = c.authority.tick().proposed;
    expect(proposed).toBeDefined();
    syncAll(a, b, c);
    expect(b.authority.tick()).toEqual({ endorsed: proposed });
    syncAll(a, b, c);
    for (const x of [a, b, c]) {
      const s = x.authority.status();
      expect(s.lastFinal).toMatchObject({ height: 2, id: proposed, signers: 2 });
      expect(s.majority).toBe(3);
      expect(s.validators.map((v) => [v.fingerprint, v.sinceHeight])).toEqual([
        [A, 1],
        [B, 1],
        [C, 1],
        [D, 3],
      ]);
    }
    copyAll(a.chainStore, d.chainStore);
    expect(d.authority.validators()).toEqual([A, B, C, D]);
    expect(d.authority.isValidator(D)).toBe(true);
    // Nothing new since height 2 but checkpoints: nobody proposes again.
    expect(a.authority.tick()).toEqual({});
  });

  test("confirm and dispute votes from other devices move an author's trust", () => {
    expect(a.authority.trust(A)).toBe(0.5);
    expect(() => a.authority.vote("confirm", A, 0)).toThrow(
      expect.objectContaining({ code: "CHAIN_VOTE_INVALID" }),
    );
    expect(() => b.authority.vote("confirm", A, 1)).toThrow("is not knowledge this device holds");
    b.authority.vote("confirm", A, 0);
    c.authority.vote("confirm", A, 0);
    d.authority.vote("dispute", A, 0);
    c.authority.vote("dispute", B, 0);
    syncAll(a, b, c, d);
    expect(a.authority.trust(A)).toBe(0.6);
    expect(a.authority.authorsView()).toEqual(
      [A, B, C, D].map((author) => ({
        author,
        length: a.chainStore.length(author),
        signedLength: a.chainStore.length(author),
        trust: author === A ? 0.6 : author === B ? 1 / 3 : 0.5,
      })),
    );
  });

  test("with four validators one endorsement is not enough, and a validator endorses once per height", () => {
    const { id, height } = a.authority.proposeCheckpoint();
    expect(height).toBe(3);
    syncAll(a, b, c, d);
    expect(b.authority.endorsePending()).toEqual({ endorsed: id, height: 3 });
    expect(b.authority.endorsePending()).toEqual({ reason: "already endorsed a proposal at height 3" });
    expect(a.authority.endorsePending()).toEqual({
      reason: "this device's own proposal leads; it signed it already",
    });
    syncAll(a, b, c, d);
    expect(d.authority.status()).toMatchObject({ pending: 1, latest: { id, signers: 2, final: false } });
    expect(d.authority.tick()).toEqual({ endorsed: id });
    syncAll(a, b, c, d);
    expect(c.authority.status()).toMatchObject({ pending: 0, lastFinal: { id, height: 3, signers: 3 } });
  });

  test("a validator endorsing two competing proposals shows in everyone's status", () => {
    a.chain.append("knowledge", text("the spare key is under the mat"));
    syncAll(a, b, c, d);
    const one = a.authority.proposeCheckpoint();
    const two = b.authority.proposeCheckpoint();
    expect([one.height, two.height]).toEqual([4, 4]);
    syncAll(a, b, c, d);
    for (const id of [one.id, two.id])
      d.chain.append("checkpoint", encodeCheckpoint({ v: 1, kind: "endorse", checkpoint: id, height: 4 }));
    syncAll(a, b, c, d);
    expect(c.authority.status()).toMatchObject({ pending: 2, equivocations: [{ height: 4, endorser: D }] });
    expect(c.authority.status().latest).toMatchObject({ signers: 1, final: false });
  });

  test("rebuilding on any device gives the same status", () => {
    const before = b.authority.status();
    b.authority.rebuild();
    expect(b.authority.status()).toEqual(before);
  });
});

describe("ticking", () => {
  test("a fleet of one finalises its own checkpoints, and only when something new was written", () => {
    const solo = device(0, []);
    expect(solo.authority.validators()).toEqual([A]);
    expect(solo.authority.tick()).toEqual({});
    solo.chain.append("knowledge", text("the heating comes on at six"));
    const { proposed } = solo.authority.tick();
    expect(solo.authority.status().lastFinal).toMatchObject({
      height: 1,
      id: proposed,
      signers: 1,
      final: true,
    });
    expect(solo.authority.tick()).toEqual({});
    solo.chain.append("knowledge", text("and goes off at ten"));
    solo.authority.tick();
    expect(solo.authority.status()).toMatchObject({ majority: 1, pending: 0, lastFinal: { height: 2 } });
  });

  test("a validator not in turn proposes only after the in-turn one stayed silent too long", () => {
    // Height 1 is B's turn among A, B, C; A waits a minute, then proposes itself.
    const x = device(0, [A, B, C], { proposeTimeoutMs: 60_000 });
    x.chain.append("knowledge", text("the router restarts on Sundays"));
    expect(x.authority.tick()).toEqual({});
    x.clock.advance(59_000);
    expect(x.authority.tick()).toEqual({});
    x.clock.advance(1_000);
    const { proposed } = x.authority.tick();
    expect(proposed).toBeDefined();
    expect(x.authority.status()).toMatchObject({ pending: 1, latest: { id: proposed, final: false } });
  });
});
