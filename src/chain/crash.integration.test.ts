// Crash safety: 200 trials that kill -9 a process appending to its log, and 200 that kill one
// pulling a growing log from a peer, at random moments. After each, the database passes
// PRAGMA integrity_check, the logs verify, and every acknowledged block is there; sync resumes.
import { afterAll, describe, expect, test } from "bun:test";
import { join, resolve } from "node:path";
import { openChainNode, safeMembership } from "../cli/chain-node.ts";
import { loadNodeKeys } from "../identity/node-keys.ts";
import { seededRandom, tempDir, testFleet } from "../identity/test-fleet.test-helper.ts";
import { enrolledDataDir } from "../mesh/enrolled-node.test-helper.ts";
import { systemClock } from "../platform/clock.ts";
import { openStore } from "../store/database.ts";
import { createSqliteChainStore } from "./adapters/sqlite.ts";
import { createChainLog } from "./log.ts";

const WORKER = resolve(import.meta.dir, "crash-worker.test-helper.ts");
const MAIN = resolve(import.meta.dir, "../main.ts");
const TRIALS = 200;

/** Starts the worker, lets it run a random while, kills it with SIGKILL; returns the acks it printed. */
async function trial(args: string[], runMs: number): Promise<{ acks: Map<string, number>; synced: boolean }> {
  const child = Bun.spawn([process.execPath, WORKER, ...args], { stdout: "pipe", stderr: "pipe" });
  let out = "";
  const decoder = new TextDecoder();
  const reader = child.stdout.getReader();
  const deadline = Date.now() + 15_000;
  let killAt = Number.POSITIVE_INFINITY;
  const read = reader.read();
  for (let pending = read; Date.now() < deadline; ) {
    const chunk = await Promise.race([
      pending,
      Bun.sleep(Math.max(1, Math.min(killAt, deadline) - Date.now())).then(() => null),
    ]);
    if (chunk === null) {
      if (Date.now() >= killAt) break;
      continue;
    }
    if (chunk.done) break;
    out += decoder.decode(chunk.value);
    if (killAt === Number.POSITIVE_INFINITY && out.includes("ready\n")) killAt = Date.now() + runMs;
    pending = reader.read();
  }
  child.kill(9);
  await child.exited;
  if (!out.includes("ready\n"))
    throw new Error(`worker never got ready: ${out}\n${await new Response(child.stderr).text()}`);
  for (;;) {
    const chunk = await reader.read().catch(() => ({ done: true as const, value: undefined }));
    if (chunk.done) break;
    out += decoder.decode(chunk.value);
  }
  const acks = new Map<string, number>();
  for (const m of out.matchAll(/^ack (\w+) (\d+)$/gm))
    acks.set(m[1] as string, Math.max(Number(m[2]), acks.get(m[1] as string) ?? 0));
  return { acks, synced: out.includes("synced\n") };
}

/**
 * Integrity of the whole file every time; the logs from `from` on (a kill can only touch what was
 * being written after the previous check), and in full when `from` is 0.
 */
function check(dataDir: string, authors: { fp: string; key: Uint8Array; acked: number; from?: number }[]) {
  const store = openStore({ path: join(dataDir, "kiana.db") });
  try {
    expect(
      store.db.query<{ integrity_check: string }, []>("PRAGMA integrity_check").get()?.integrity_check,
    ).toBe("ok");
    const chainStore = createSqliteChainStore({ store });
    const log = createChainLog({ store: chainStore, keys: loadNodeKeys({ dataDir }), clock: systemClock });
    for (const a of authors) {
      const verdict = log.verifyLog(a.fp, a.key, { from: a.from ?? 0 });
      if (!verdict.ok) throw new Error(`log ${a.fp} is bad after a kill: ${JSON.stringify(verdict)}`);
      expect(verdict.length).toBeGreaterThanOrEqual(a.acked);
    }
    return chainStore.length(authors[0]?.fp ?? "");
  } finally {
    store.close();
  }
}

async function cliVerify(dataDir: string): Promise<{ code: number; out: string }> {
  const p = Bun.spawn([process.execPath, MAIN, "chain", "verify"], {
    env: { ...process.env, KIANA_DATA: dataDir, KIANA_LOG_FORMAT: "json" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const out = await new Response(p.stdout).text();
  return { code: await p.exited, out };
}

describe("crash safety under kill -9", () => {
  const rand = seededRandom(404);
  const pick = (lo: number, hi: number) => lo + ((rand(1)[0] ?? 0) % (hi - lo + 1));

  test(`${TRIALS} kills during append: integrity ok, the log verifies, no acknowledged block is lost`, async () => {
    const dataDir = tempDir("kiana-crash-append-");
    const keys = loadNodeKeys({ dataDir });
    let acked = 0;
    let length = 0;
    for (let i = 0; i < TRIALS; i++) {
      const { acks } = await trial(["append", dataDir, String(i + 1)], pick(1, 40));
      acked = Math.max(acked, acks.get(keys.fingerprint) ?? 0);
      const from = i % 25 === 24 ? 0 : Math.max(0, length - 1);
      length = check(dataDir, [{ fp: keys.fingerprint, key: keys.signingPublicKey, acked, from }]);
    }
    expect(acked).toBeGreaterThan(TRIALS);
    console.log(`append crash trials: ${TRIALS} kills, ${length} blocks, ${acked} acknowledged`);
    const verify = await cliVerify(dataDir);
    expect(verify.out).toContain(`${length} blocks ok`);
    expect(verify.code).toBe(0);
  }, 300_000);

  test(`${TRIALS} kills during sync: integrity ok, the copy verifies, acknowledged batches stay, sync resumes`, async () => {
    const authority = testFleet("home", Date.now() - 60_000);
    const srcDir = enrolledDataDir(authority, "src", "hub");
    const dstDir = enrolledDataDir(authority, "dst", "node");
    const srcStore = openStore({ path: join(srcDir, "kiana.db") });
    const srcKeys = loadNodeKeys({ dataDir: srcDir });
    const src = await openChainNode({
      store: srcStore,
      keys: srcKeys,
      membership: safeMembership(srcDir),
      revoked: [],
      clock: systemClock,
      // Small batches: many commits per session, so kills land between and inside them.
      batchBytes: 4096,
    });
    const server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (req, srv) => src.server.upgrade(req, srv),
      websocket: src.server.websocket,
    });
    afterAll(() => {
      server.stop(true);
      srcStore.close();
    });
    const url = `http://127.0.0.1:${server.port}`;
    const grow = (n: number) => {
      for (let done = 0; done < n; done += 50)
        src.chainLog.appendBatch(
          Array.from({ length: 50 }, (_, k) => ({
            type: "knowledge",
            body: new TextEncoder().encode(`shared ${done + k} ${"y".repeat(200)}`),
          })),
        );
    };
    grow(2000);
    let acked = 0;
    let length = 0;
    let midBatch = 0;
    for (let i = 0; i < TRIALS; i++) {
      grow(pick(1, 6) * 100);
      const { acks } = await trial(["sync", dstDir, url], pick(20, 200));
      acked = Math.max(acked, acks.get(srcKeys.fingerprint) ?? 0);
      const from = i % 25 === 24 ? 0 : Math.max(0, length - 1);
      const before = length;
      length = check(dstDir, [{ fp: srcKeys.fingerprint, key: srcKeys.signingPublicKey, acked, from }]);
      if (length > before && length < src.chainStore.length(srcKeys.fingerprint)) midBatch++;
    }
    // Most kills must land while blocks were flowing, or the trials would prove little.
    expect(midBatch).toBeGreaterThan(TRIALS / 4);
    // Sync resumes from wherever the last kill left it and ends equal to the source.
    const last = await trial(["sync", dstDir, url], 3000);
    expect(last.synced).toBe(true);
    const final = check(dstDir, [{ fp: srcKeys.fingerprint, key: srcKeys.signingPublicKey, acked }]);
    expect(final).toBe(src.chainStore.length(srcKeys.fingerprint));
    console.log(
      `sync crash trials: ${TRIALS} kills, ${midBatch} mid-sync, ${final} blocks, ${acked} acknowledged before the last kill`,
    );
    const verify = await cliVerify(dstDir);
    expect(verify.code).toBe(0);
    expect(verify.out).toContain(`${final} blocks ok`);
  }, 400_000);
});
