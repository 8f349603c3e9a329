// The SQLite-derived authority state: validator sets across final checkpoints, late blocks,
// crash safety, batches, and rebuild equal to the incremental state.
import { afterAll, describe, expect, test } from "bun:test";
import { createManualClock } from "../../platform/clock.ts";
import { openStore } from "../../store/index.ts";
import { createSqliteChainStore } from "../adapters/sqlite.ts";
import { createChainLog } from "../log.ts";
import type { ChainStore } from "../ports.ts";
import { copyLog, dumpDerived, makeKeys, text } from "./authority.test-helper.ts";
import { encodeCheckpoint, encodeVote, type Head, type ValidatorVoteKind, ZERO_ID } from "./bodies.ts";
import { createAuthorityState } from "./state.ts";

const { keys, cleanup } = makeKeys(5);
afterAll(cleanup);
const [A, B, C, D, E] = keys.map((k) => k.fingerprint) as [string, string, string, string, string];
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** One SQLite store holding the logs of all five devices, written directly (no authority rules). */
function world(genesis = [A, B, C]) {
  const db = openStore({ path: ":memory:" });
  const chainStore = createSqliteChainStore({ store: db });
  const clock = createManualClock();
  const logs = Object.fromEntries(
    keys.map((k) => [k.fingerprint, createChainLog({ store: chainStore, keys: k, clock })]),
  );
  const log = (fp: string) => logs[fp] as ReturnType<typeof createChainLog>;
  const state = createAuthorityState({ store: db, genesis });
  const heads = (): Head[] =>
    chainStore.authors().flatMap((author) => {
      const r = chainStore.latestSignedRoot(author);
      return r ? [{ author, length: r.length, root: hex(r.root) }] : [];
    });
  return {
    db,
    chainStore,
    state,
    vote: (voter: string, kind: ValidatorVoteKind, validator: string) =>
      log(voter).append("vote", encodeVote({ v: 1, kind, validator })),
    propose(proposer: string, height: number, prev: string): string {
      const body = encodeCheckpoint({ v: 1, kind: "propose", height, prev, heads: heads() });
      return hex(log(proposer).append("checkpoint", body).hash);
    },
    endorse: (endorser: string, checkpoint: string, height: number) =>
      log(endorser).append("checkpoint", encodeCheckpoint({ v: 1, kind: "endorse", checkpoint, height })),
    /** Refreshes, then the set for the next height and the final height. */
    look() {
      state.refresh();
      const final = state.replay.finalHeight();
      return { final, next: state.replay.validatorsAt(final + 1) };
    },
  };
}

describe("the validator set through final checkpoints", () => {
  const w = world();
  let h1 = "";
  let h3 = "";

  test("one vote of three is pending; a second vote covered later applies it", () => {
    w.vote(A, "add-validator", D);
    h1 = w.propose(A, 1, ZERO_ID);
    expect(w.look()).toEqual({ final: 0, next: [A, B, C] });
    w.endorse(B, h1, 1);
    expect(w.look()).toEqual({ final: 1, next: [A, B, C] });
    // Votes by devices outside the set count for nothing, however many.
    w.vote(D, "add-validator", E);
    w.vote(E, "add-validator", E);
    w.vote(B, "add-validator", D);
    const h2 = w.propose(C, 2, h1);
    w.endorse(A, h2, 2);
    expect(w.look()).toEqual({ final: 2, next: [A, B, C, D] });
    expect(w.state.replay.memberSince(D, 3)).toBe(3);
    expect(w.state.replay.memberSince(A, 3)).toBe(1);
  });

  test("with four validators a change needs three votes; a remove then applies", () => {
    w.vote(A, "remove-validator", C);
    w.vote(B, "remove-validator", C);
    h3 = w.propose(D, 3, w.state.replay.final(2)?.id as string);
    w.endorse(A, h3, 3);
    expect(w.look().final).toBe(2);
    w.endorse(B, h3, 3);
    expect(w.look()).toEqual({ final: 3, next: [A, B, C, D] });
    w.vote(D, "remove-validator", C);
    const h4 = w.propose(A, 4, h3);
    w.endorse(B, h4, 4);
    w.endorse(D, h4, 4);
    expect(w.look()).toEqual({ final: 4, next: [A, B, D] });
    expect(w.state.replay.validatorsAt(4)).toEqual([A, B, C, D]);
  });

  test("a validator endorsing two proposals at one height is reported and counted for neither", () => {
    const h4 = w.state.replay.final(4)?.id as string;
    const p = w.propose(A, 5, h4);
    const q = w.propose(B, 5, h4);
    w.endorse(D, p, 5);
    w.endorse(D, q, 5);
    expect(w.look().final).toBe(4);
    expect(w.state.equivocations()).toEqual([{ height: 5, endorser: D }]);
    expect(w.state.pendingCount(4, [A, B, D])).toBe(2);
  });

  test("rebuilding from the blocks gives exactly the incremental state", () => {
    const incremental = dumpDerived(w.db);
    expect(incremental.chain_final).toHaveLength(4);
    w.state.rebuild();
    expect(dumpDerived(w.db)).toEqual(incremental);
  });

  test("another store receiving the same logs in another order, late votes included, agrees", () => {
    const db = openStore({ path: ":memory:" });
    const other = createSqliteChainStore({ store: db });
    const state = createAuthorityState({ store: db, genesis: [A, B, C] });
    // B's first block (its endorsement of height 1) comes early, its vote adding D only after the
    // checkpoint covering that vote is final: until then D is no validator and its proposal is ignored.
    for (const [author, upTo] of [[A], [C], [B, 1], [D], [E]] as [string, number?][]) {
      copyLog(w.chainStore, other, author, upTo);
      state.refresh();
    }
    expect(state.replay.finalHeight()).toBe(2);
    expect(state.replay.validatorsAt(3)).toEqual([A, B, C]);
    copyLog(w.chainStore, other, B);
    state.refresh();
    expect(state.replay.validatorsAt(3)).toEqual([A, B, C, D]);
    expect(dumpDerived(db)).toEqual(dumpDerived(w.db));
    db.close();
  });

  test("a different genesis configuration replays every height under the new set", () => {
    const state = createAuthorityState({ store: w.db, genesis: [A] });
    state.refresh();
    // A alone finalises its own height-1 proposal; B's endorsement no longer matters.
    expect(state.replay.final(1)?.signers).toBe(1);
    createAuthorityState({ store: w.db, genesis: [A, B, C] }).refresh();
  });
});

test("a failure part way through leaves the derived state as it was, and the next refresh completes it", () => {
  const w = world();
  const p = w.propose(A, 1, ZERO_ID);
  w.look();
  w.db.db.run(
    "CREATE TRIGGER fail_final BEFORE INSERT ON chain_final BEGIN SELECT RAISE(ABORT, 'disk full'); END",
  );
  w.endorse(C, p, 1);
  expect(() => w.state.refresh()).toThrow("disk full");
  expect(w.state.replay.finalHeight()).toBe(0);
  w.db.db.run("DROP TRIGGER fail_final");
  w.db.db.run(
    "CREATE TRIGGER fail_vote BEFORE INSERT ON chain_vote BEGIN SELECT RAISE(ABORT, 'disk full'); END",
  );
  w.vote(B, "add-validator", D);
  expect(() => w.state.refresh()).toThrow("disk full");
  expect(w.db.db.query("SELECT count(*) AS n FROM chain_authority_inbox").get()).toEqual({ n: 1 });
  w.db.db.run("DROP TRIGGER fail_vote");
  expect(w.look().final).toBe(1);
  const incremental = dumpDerived(w.db);
  w.state.rebuild();
  expect(dumpDerived(w.db)).toEqual(incremental);
});

test("trust counts stay right across many indexing batches", () => {
  const w = world();
  const chainStore: ChainStore = w.chainStore;
  const a = createChainLog({
    store: chainStore,
    keys: keys[0] as (typeof keys)[0],
    clock: createManualClock(),
  });
  a.appendBatch(Array.from({ length: 400 }, (_, i) => ({ type: "knowledge", body: text(`fact ${i}`) })));
  const b = createChainLog({
    store: chainStore,
    keys: keys[1] as (typeof keys)[1],
    clock: createManualClock(),
  });
  const votes = (kind: "confirm" | "dispute", from: number, to: number) =>
    Array.from({ length: to - from }, (_, i) => ({
      type: "vote",
      body: encodeVote({ v: 1, kind, author: A, seq: from + i }),
    }));
  // B confirms all 400, then changes its mind on the last 100; A's own votes do not count.
  b.appendBatch([...votes("confirm", 0, 400), ...votes("dispute", 300, 400)]);
  a.appendBatch(
    votes("confirm", 0, 50).map((v) => ({
      ...v,
      body: encodeVote({ v: 1, kind: "confirm", author: A, seq: 7 }),
    })),
  );
  expect(w.state.refresh().indexed).toBe(550);
  expect(w.state.trustCounts(A)).toEqual({ confirms: 300, disputes: 100 });
  const incremental = dumpDerived(w.db);
  w.state.rebuild();
  expect(dumpDerived(w.db)).toEqual(incremental);
});

describe("votes that are not on knowledge count for nothing", () => {
  const confirm = (author: string, seq: number) => ({
    type: "vote",
    body: encodeVote({ v: 1, kind: "confirm", author, seq }),
  });
  /** A's log: knowledge 0, a checkpoint 1, a vote 2, a config block 3, knowledge 4. */
  function authorBlocks(w: ReturnType<typeof world>) {
    const a = createChainLog({
      store: w.chainStore,
      keys: keys[0] as (typeof keys)[0],
      clock: createManualClock(),
    });
    a.appendBatch([
      { type: "knowledge", body: text("fact") },
      {
        type: "checkpoint",
        body: encodeCheckpoint({ v: 1, kind: "endorse", checkpoint: "0".repeat(64), height: 1 }),
      },
      { type: "vote", body: encodeVote({ v: 1, kind: "add-validator", validator: D }) },
      { type: "config", body: text("{}") },
      { type: "knowledge", body: text("another fact") },
    ]);
  }
  /** B confirms every block of A's, C disputes block 4, and D confirms a block A has not written. */
  function voters(w: ReturnType<typeof world>) {
    const log = (i: number) =>
      createChainLog({ store: w.chainStore, keys: keys[i] as (typeof keys)[0], clock: createManualClock() });
    log(1).appendBatch([0, 1, 2, 3, 4].map((seq) => confirm(A, seq)));
    log(2).append("vote", encodeVote({ v: 1, kind: "dispute", author: A, seq: 4 }));
    log(3).append("vote", encodeVote({ v: 1, kind: "confirm", author: A, seq: 5 }));
  }

  test("a confirm on a checkpoint, vote or config block changes no trust, and says why", () => {
    const w = world();
    authorBlocks(w);
    voters(w);
    w.state.refresh();
    expect(w.state.trustCounts(A)).toEqual({ confirms: 2, disputes: 1 });
    const why = w.state.uncountedVotes(A).map((v) => `${v.seq} ${v.reason}`);
    expect(why).toEqual([
      "1 block 1 is a checkpoint block; only votes on knowledge count toward trust",
      "2 block 2 is a vote block; only votes on knowledge count toward trust",
      "3 block 3 is a config block; only votes on knowledge count toward trust",
      "5 block 5 is not held yet; the vote counts once it arrives",
    ]);
  });

  test("votes that arrive before their targets give the same counts as after", () => {
    const early = world();
    voters(early);
    early.state.refresh();
    expect(early.state.trustCounts(A)).toEqual({ confirms: 0, disputes: 0 });
    authorBlocks(early);
    early.state.refresh();
    const late = world();
    authorBlocks(late);
    voters(late);
    late.state.refresh();
    expect(early.state.trustCounts(A)).toEqual({ confirms: 2, disputes: 1 });
    expect(late.state.trustCounts(A)).toEqual(early.state.trustCounts(A));
    expect(dumpDerived(early.db)).toEqual(dumpDerived(late.db));
    early.state.rebuild();
    expect(dumpDerived(early.db)).toEqual(dumpDerived(late.db));
  });
});
