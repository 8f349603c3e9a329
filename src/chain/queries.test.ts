import { afterAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { loadNodeKeys } from "../identity/node-keys.ts";
import { tempDir } from "../identity/test-fleet.test-helper.ts";
import { createManualClock } from "../platform/clock.ts";
import { openStore } from "../store/database.ts";
import { createSqliteChainStore } from "./adapters/sqlite.ts";
import { createChainLog } from "./log.ts";
import { createChainQueries, ftsQuery, MAX_LIST_LIMIT } from "./queries.ts";
import type { BlockRowView } from "./view.ts";

const dir = tempDir("kiana-queries-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const alice = loadNodeKeys({ dataDir: join(dir, "alice") });
const bob = loadNodeKeys({ dataDir: join(dir, "bob") });
const text = (s: string) => new TextEncoder().encode(s);
const key = (b: BlockRowView) => `${b.author.slice(0, 4)}#${b.seq}`;

/** Two authors on one store and one hand-moved clock, so their blocks interleave in time. */
function chain(name: string) {
  const store = openStore({ path: join(dir, `${name}.db`) });
  const chainStore = createSqliteChainStore({ store });
  const clock = createManualClock(1_800_000_000_000);
  const a = createChainLog({ store: chainStore, keys: alice, clock });
  const b = createChainLog({ store: chainStore, keys: bob, clock });
  return { store, clock, a, b, q: createChainQueries({ db: store.db }) };
}

describe("listing and filtering", () => {
  const { store, clock, a, b, q } = chain("filters");
  afterAll(() => store.close());
  const t0 = clock.now();
  a.append("knowledge", text("the kettle is in the kitchen cupboard"));
  clock.advance(1000);
  b.append("vote", text("kettle confirm"));
  clock.advance(1000);
  a.appendBatch([
    { type: "knowledge", body: text("the spare key is under the mat") },
    { type: "config", body: text("volume 40") },
  ]);
  clock.advance(1000);
  b.append("knowledge", text("Kettles descale monthly; the kettle is white"));
  const A = alice.fingerprint.slice(0, 4);
  const B = bob.fingerprint.slice(0, 4);

  test("newest first by time; a batch with one time is listed from its last block", () => {
    expect(q.list({}).map(key)).toEqual([`${B}#1`, `${A}#2`, `${A}#1`, `${B}#0`, `${A}#0`]);
    const [top] = q.list({ limit: 1 });
    expect(top).toMatchObject({
      author: bob.fingerprint,
      seq: 1,
      ts: t0 + 3000,
      type: "knowledge",
      text: "Kettles descale monthly; the kettle is white",
      bytes: 44,
    });
    expect(top?.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  test("author, type and since filter alone and together", () => {
    expect(q.list({ author: bob.fingerprint }).map(key)).toEqual([`${B}#1`, `${B}#0`]);
    expect(q.list({ type: "config" }).map((r) => r.text)).toEqual(["volume 40"]);
    expect(q.list({ since: t0 + 2000 }).map(key)).toEqual([`${B}#1`, `${A}#2`, `${A}#1`]);
    expect(q.list({ author: alice.fingerprint, type: "knowledge", since: t0 + 1 }).map(key)).toEqual([
      `${A}#1`,
    ]);
    expect(q.list({ author: "0".repeat(32) })).toEqual([]);
    expect(q.list({ type: "checkpoint" })).toEqual([]);
  });

  test("text search finds knowledge blocks with every word, in any case and order", () => {
    expect(q.list({ text: "MAT key" }).map(key)).toEqual([`${A}#1`]);
    // Only knowledge is indexed: the vote that says "kettle" is not a hit.
    expect(q.list({ text: "kettle" }).map(key)).toEqual([`${B}#1`, `${A}#0`]);
    expect(q.list({ text: "kettle cupboard" }).map(key)).toEqual([`${A}#0`]);
    expect(q.list({ text: "kettle", author: alice.fingerprint }).map(key)).toEqual([`${A}#0`]);
    expect(q.list({ text: "kettle", since: t0 + 1 }).map(key)).toEqual([`${B}#1`]);
    expect(q.list({ text: "volume" })).toEqual([]);
    expect(q.list({ text: "kett" })).toEqual([]);
    expect(q.list({ text: "kett*" }).map(key)).toEqual([`${B}#1`, `${A}#0`]);
    expect(q.list({ text: "   " })).toHaveLength(5);
  });

  test("hostile search strings never reach SQLite as syntax", () => {
    const hostile = [
      '"',
      '""',
      "AND(",
      "*",
      "kettle OR",
      "NEAR(kettle mat",
      "text:kettle",
      "-kettle",
      "^kettle",
      "kettle)",
      "'; DROP TABLE chain_block; --",
      "kettle\u0000mat",
      "{text}: x",
      "x".repeat(5000),
      Array.from({ length: 100 }, (_, i) => `w${i}`).join(" "),
      "\u{1F600} \u0301",
    ];
    for (const input of hostile) expect(() => q.list({ text: input })).not.toThrow();
    expect(q.list({ text: "*" })).toEqual([]);
    expect(q.list({ text: '"' })).toEqual([]);
    // Quotes and operators are read as the words they contain.
    expect(q.list({ text: '"spare' }).map(key)).toEqual([`${A}#1`]);
    expect(q.list({ text: "AND( cupboard" }).map(key)).toEqual([]);
    expect(q.list({ text: "text:kettle" })).toEqual([]);
    expect(q.list({ text: "kettle)" }).map(key)).toEqual([`${B}#1`, `${A}#0`]);
    expect(q.list({})).toHaveLength(5);
  });

  test("the query builder quotes every word and keeps only a trailing star", () => {
    expect(ftsQuery('say "hi" AND*bye*')).toBe('"say" AND """hi""" AND "AND*bye"*');
    expect(ftsQuery("* - ( )")).toBeUndefined();
  });
});

describe("pages, counts and odd bodies", () => {
  const { store, clock, a, b, q } = chain("pages");
  afterAll(() => store.close());
  // 130 blocks: batches share a time, and both authors write at some of the same times.
  for (let i = 0; i < 13; i++) {
    a.appendBatch(Array.from({ length: 6 }, (_, j) => ({ type: "knowledge", body: text(`a ${i} ${j}`) })));
    b.appendBatch(
      Array.from({ length: 4 }, (_, j) => ({
        type: j === 0 ? "vote" : "knowledge",
        body: text(`b ${i} ${j}`),
      })),
    );
    if (i % 3 === 0) clock.advance(1000);
  }

  test("keyset pages cover every block exactly once, in the same order as one big page", () => {
    const all = q.list({ limit: MAX_LIST_LIMIT }).map(key);
    expect(all).toHaveLength(130);
    const seen: string[] = [];
    let before: BlockRowView | undefined;
    for (let pages = 0; pages < 100; pages++) {
      const page = q.list({ limit: 7, before });
      seen.push(...page.map(key));
      if (page.length < 7) break;
      before = page.at(-1);
    }
    expect(seen).toEqual(all);
    expect(new Set(seen).size).toBe(130);
  });

  test("pages of a filtered list stay inside the filter", () => {
    const votes: string[] = [];
    let before: BlockRowView | undefined;
    for (let pages = 0; pages < 20; pages++) {
      const page = q.list({ type: "vote", limit: 5, before });
      votes.push(...page.map((r) => r.type));
      if (page.length < 5) break;
      before = page.at(-1);
    }
    expect(votes).toEqual(Array(13).fill("vote"));
  });

  test("the limit defaults to 50 and stops at 500", () => {
    a.appendBatch(Array.from({ length: 400 }, (_, j) => ({ type: "config", body: text(`c ${j}`) })));
    expect(q.list({})).toHaveLength(50);
    expect(q.list({ limit: 10_000 })).toHaveLength(MAX_LIST_LIMIT);
    expect(q.list({ limit: 0 })).toHaveLength(1);
    expect(q.list({ limit: Number.NaN })).toHaveLength(50);
  });

  test("stats and authors read lengths from the keys, signed lengths from the roots", () => {
    expect(q.stats()).toEqual({ blocks: 530, authors: 2, knowledge: 13 * 6 + 13 * 3 });
    // Blocks past the newest signed root (a sync cut short) count in length, not in signedLength.
    store.db.run("UPDATE chain_root SET length = 20 WHERE author = ?", [bob.fingerprint]);
    const byAuthor = Object.fromEntries(q.authors().map((r) => [r.author, r]));
    expect(byAuthor[alice.fingerprint]).toEqual({
      author: alice.fingerprint,
      length: 478,
      signedLength: 478,
    });
    expect(byAuthor[bob.fingerprint]).toEqual({ author: bob.fingerprint, length: 52, signedLength: 20 });
  });

  test("a body that is not UTF-8 is listed by size only", () => {
    clock.advance(1000);
    a.append("model-release", new Uint8Array([0xc3, 0x28, 0xff, 0x00]));
    b.append("knowledge", text("caf\u00e9 \u{1F375} ready"));
    const newest = q.list({ limit: 2 });
    const bin = newest.find((r) => r.author === alice.fingerprint);
    const tea = newest.find((r) => r.author === bob.fingerprint);
    expect(bin).toMatchObject({ type: "model-release", bytes: 4 });
    expect(bin?.text).toBeUndefined();
    expect(tea?.text).toBe("caf\u00e9 \u{1F375} ready");
    expect(q.list({ text: "CAFE" }).map((r) => r.text)).toEqual(["caf\u00e9 \u{1F375} ready"]);
  });

  test("an empty chain has no rows and zero counts", () => {
    const empty = chain("empty");
    expect(empty.q.list({ text: "x" })).toEqual([]);
    expect(empty.q.list({})).toEqual([]);
    expect(empty.q.stats()).toEqual({ blocks: 0, authors: 0, knowledge: 0 });
    expect(empty.q.authors()).toEqual([]);
    empty.store.close();
  });
});
