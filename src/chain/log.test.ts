import { afterAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { loadNodeKeys } from "../identity/node-keys.ts";
import { tempDir } from "../identity/test-fleet.test-helper.ts";
import { createManualClock } from "../platform/clock.ts";
import { openStore } from "../store/database.ts";
import { createMemoryChainStore } from "./adapters/memory.ts";
import { createSqliteChainStore } from "./adapters/sqlite.ts";
import { consistencyProof, verifyConsistency } from "./consistency.ts";
import { createChainLog } from "./log.ts";
import { rootOf, verifyInclusion } from "./merkle.ts";
import { type SignedRoot, verifySignedRoot } from "./signed-root.ts";

const dir = tempDir("kiana-chain-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const keys = loadNodeKeys({ dataDir: join(dir, "a") });
const other = loadNodeKeys({ dataDir: join(dir, "b") });
const text = (s: string) => new TextEncoder().encode(s);

function sqliteLog(name: string) {
  const db = openStore({ path: join(dir, `${name}.db`) });
  const store = createSqliteChainStore({ store: db });
  return { db, store, log: createChainLog({ store, keys, clock: createManualClock() }) };
}

describe("a chain log on SQLite with 1 000 blocks", () => {
  const { db, store, log } = sqliteLog("thousand");
  afterAll(() => db.close());
  for (let i = 0; i < 1000; i++) log.append(i % 10 === 0 ? "vote" : "knowledge", text(`fact ${i}`));

  test("it verifies end to end, every block under the latest signed root", () => {
    expect(log.verifyLog(keys.fingerprint)).toEqual({ ok: true, length: 1000, signedLength: 1000 });
    expect(store.authors()).toEqual([keys.fingerprint]);
    expect(store.block(keys.fingerprint, 999)?.block.prev).toEqual(store.block(keys.fingerprint, 998)?.hash);
  });

  test("a block proves its inclusion against the author's signed root", () => {
    for (const seq of [0, 1, 511, 512, 998, 999]) {
      const got = log.prove(keys.fingerprint, seq);
      if (!got) throw new Error(`no proof for ${seq}`);
      expect(verifySignedRoot(got.root, keys.signingPublicKey)).toBe(true);
      expect(verifyInclusion(got.block.hash, seq, got.root.length, got.proof, got.root.root)).toBe(true);
      expect(
        verifyInclusion(
          got.block.hash,
          seq,
          got.root.length,
          got.proof,
          rootOf(999, (i) => store.node(keys.fingerprint, i)),
        ),
      ).toBe(false);
    }
    expect(log.prove(keys.fingerprint, 1000)).toBeUndefined();
  });

  test("an older length is proved a prefix of the current log", () => {
    const get = (i: number) => store.node(keys.fingerprint, i);
    const latest = store.latestSignedRoot(keys.fingerprint) as SignedRoot;
    const proof = consistencyProof(613, 1000, get);
    expect(verifyConsistency(613, rootOf(613, get), 1000, latest.root, proof)).toBe(true);
  });

  test("a body changed in the database names that block", () => {
    db.db.run("UPDATE chain_block SET body = ? WHERE author = ? AND seq = 617", [
      text("fact 6l7"),
      keys.fingerprint,
    ]);
    expect(log.verifyLog(keys.fingerprint)).toEqual({
      ok: false,
      seq: 617,
      reason: "contents do not match the stored hash",
    });
    db.db.run("UPDATE chain_block SET body = ? WHERE author = ? AND seq = 617", [
      text("fact 617"),
      keys.fingerprint,
    ]);
    expect(log.verifyLog(keys.fingerprint).ok).toBe(true);
  });

  test("verifying from a length checks only the tail, starting from the stored peaks", () => {
    for (const from of [1, 600, 617, 618, 999, 1000])
      expect(log.verifyLog(keys.fingerprint, undefined, { from })).toEqual({
        ok: true,
        length: 1000,
        signedLength: 1000,
      });
    db.db.run("UPDATE chain_block SET body = ? WHERE author = ? AND seq = 900", [
      text("fact 9oo"),
      keys.fingerprint,
    ]);
    expect(log.verifyLog(keys.fingerprint, undefined, { from: 700 })).toMatchObject({ ok: false, seq: 900 });
    // A tail check trusts the prefix: a change before `from` is for the full check to find.
    expect(log.verifyLog(keys.fingerprint, undefined, { from: 901 }).ok).toBe(true);
    db.db.run("UPDATE chain_block SET body = ? WHERE author = ? AND seq = 900", [
      text("fact 900"),
      keys.fingerprint,
    ]);
  });

  test("a changed inner tree node is found", () => {
    const row = db.db
      .query<{ hash: Uint8Array }, [string]>("SELECT hash FROM chain_node WHERE author = ? AND idx = 511")
      .get(keys.fingerprint);
    db.db.run("UPDATE chain_node SET hash = zeroblob(32) WHERE author = ? AND idx = 511", [keys.fingerprint]);
    const verdict = log.verifyLog(keys.fingerprint);
    expect(verdict).toEqual({ ok: false, seq: 511, reason: "stored tree node 511 does not match" });
    db.db.run("UPDATE chain_node SET hash = ? WHERE author = ? AND idx = 511", [
      row?.hash ?? null,
      keys.fingerprint,
    ]);
  });
});

describe("signed roots", () => {
  const store = createMemoryChainStore();
  const log = createChainLog({ store, keys, clock: createManualClock() });
  log.appendBatch([
    { type: "config", body: text("a") },
    { type: "knowledge", body: text("b") },
    { type: "model-release", body: text("c") },
  ]);
  const root = store.latestSignedRoot(keys.fingerprint) as SignedRoot;

  test("one signature covers a whole batch, and verifies only with the author's key", () => {
    expect(root.length).toBe(3);
    expect(verifySignedRoot(root, keys.signingPublicKey)).toBe(true);
    expect(verifySignedRoot(root, other.signingPublicKey)).toBe(false);
    for (let seq = 0; seq < 3; seq++) {
      const got = log.prove(keys.fingerprint, seq);
      expect(got && verifyInclusion(got.block.hash, seq, 3, got.proof, root.root)).toBe(true);
    }
  });

  test("a forged or altered root fails", () => {
    const forged = { ...root, signature: other.sign(new Uint8Array(10)) };
    expect(verifySignedRoot(forged, keys.signingPublicKey)).toBe(false);
    expect(verifySignedRoot({ ...root, length: 2 }, keys.signingPublicKey)).toBe(false);
    expect(verifySignedRoot({ ...root, ts: root.ts + 1 }, keys.signingPublicKey)).toBe(false);
    expect(verifySignedRoot({ ...root, root: new Uint8Array(32) }, keys.signingPublicKey)).toBe(false);
    expect(verifySignedRoot({ ...root, signature: new Uint8Array(3) }, keys.signingPublicKey)).toBe(false);
    expect(verifySignedRoot(null as never, keys.signingPublicKey)).toBe(false);
  });

  test("a log whose latest root is forged does not verify", () => {
    const s = createMemoryChainStore();
    const l = createChainLog({ store: s, keys, clock: createManualClock() });
    l.append("knowledge", text("x"));
    l.append("knowledge", text("y"));
    const forged = { ...(s.latestSignedRoot(keys.fingerprint) as SignedRoot), signature: new Uint8Array(64) };
    s.putSignedRoot(forged);
    // The first root kept at a length wins, so the forgery cannot displace the genuine one...
    expect(l.verifyLog(keys.fingerprint).ok).toBe(true);
    // ...and a store that hands it out anyway (a tampered database) fails verification.
    const tampered = { ...s, latestSignedRoot: () => forged };
    const checker = createChainLog({ store: tampered, keys, clock: createManualClock() });
    expect(checker.verifyLog(keys.fingerprint)).toEqual({
      ok: false,
      reason: "the signed root at length 2 does not verify",
    });
  });

  test("another author's log needs that author's key to verify", () => {
    const s = createMemoryChainStore();
    createChainLog({ store: s, keys: other, clock: createManualClock() }).append("vote", text("yes"));
    const mine = createChainLog({ store: s, keys, clock: createManualClock() });
    expect(mine.verifyLog(other.fingerprint).ok).toBe(false);
    expect(mine.verifyLog(other.fingerprint, other.signingPublicKey).ok).toBe(true);
  });

  test("a malformed block is refused and nothing is stored", () => {
    expect(() =>
      log.appendBatch([
        { type: "knowledge", body: text("d") },
        { type: "Bad Type", body: text("e") },
      ]),
    ).toThrow(expect.objectContaining({ code: "CHAIN_BAD_BLOCK" }));
    expect(store.length(keys.fingerprint)).toBe(3);
    expect(log.verifyLog(keys.fingerprint).ok).toBe(true);
  });
});
