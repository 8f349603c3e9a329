// Measures signed, durable chain appends against raw durable SQLite inserts of the same rows.
// `scripts/bench chain-append [count] [dir]`; it prints, it asserts nothing.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BlockRow, createSqliteChainStore } from "../../src/chain/adapters/sqlite.ts";
import { createChainLog } from "../../src/chain/log.ts";
import { loadNodeKeys } from "../../src/identity/node-keys.ts";
import { systemClock } from "../../src/platform/clock.ts";
import { openStore } from "../../src/store/database.ts";

const count = Number(process.argv[2] ?? 10_000);
const dir = mkdtempSync(join(process.argv[3] ?? tmpdir(), "kiana-chain-bench-"));
const perSecond = (n: number, ms: number) => Math.round((n * 1000) / ms);

try {
  const keys = loadNodeKeys({ dataDir: join(dir, "node") });
  const db = openStore({ path: join(dir, "chain.db") });
  const store = createSqliteChainStore({ store: db });
  const log = createChainLog({ store, keys, clock: systemClock });
  const body = new Uint8Array(200).fill(7);

  let t = performance.now();
  for (let i = 0; i < count; i++) log.append("knowledge", body);
  const signedMs = performance.now() - t;

  t = performance.now();
  const verdict = log.verifyLog(keys.fingerprint);
  const verifyMs = performance.now() - t;

  // The same rows, each in its own durable transaction, with no hashing, tree or signature.
  const raw = openStore({ path: join(dir, "raw.db") });
  const insert = raw.db.query(
    "INSERT INTO chain_block (author, seq, ts, type, prev, body, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
  );
  const rows = db.db.query<BlockRow, []>("SELECT * FROM chain_block");
  const copied = [...rows.iterate()];
  t = performance.now();
  for (const r of copied)
    raw.transaction(() => insert.run(r.author, r.seq, r.ts, r.type, r.prev, r.body, r.hash), {
      durable: true,
    });
  const rawMs = performance.now() - t;

  // Batching: one signature and one fsync per 100 blocks.
  const batchedDb = openStore({ path: join(dir, "batched.db") });
  const batched = createChainLog({
    store: createSqliteChainStore({ store: batchedDb }),
    keys,
    clock: systemClock,
  });
  t = performance.now();
  for (let i = 0; i < count; i += 100)
    batched.appendBatch(Array.from({ length: 100 }, () => ({ type: "knowledge", body })));
  const batchedMs = performance.now() - t;

  console.log(
    JSON.stringify(
      {
        count,
        dir,
        signedDurableAppendsPerSecond: perSecond(count, signedMs),
        rawDurableInsertsPerSecond: perSecond(count, rawMs),
        batchedBy100AppendsPerSecond: perSecond(count, batchedMs),
        verifyBlocksPerSecond: perSecond(count, verifyMs),
        verified: verdict.ok,
        rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
      },
      null,
      2,
    ),
  );
  db.close();
  raw.close();
  batchedDb.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
