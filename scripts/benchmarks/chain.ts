// `scripts/bench chain [--blocks N] [--big N] [--appends N]`: the knowledge chain against its
// baselines, two processes over loopback (this one serves, chain-peer.ts receives). Prints a table
// and JSON; asserts nothing. Defaults follow the issue: 100 000 × 1 KiB, 1 000 000 × 256 B.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { type BlockRow, createSqliteChainStore } from "../../src/chain/adapters/sqlite.ts";
import { encodeBlock } from "../../src/chain/block.ts";
import { createChainLog } from "../../src/chain/log.ts";
import type { ChainStore } from "../../src/chain/ports.ts";
import { openChainNode, safeMembership } from "../../src/cli/chain-node.ts";
import { encodeCertificate } from "../../src/identity/enrolment.ts";
import {
  createFleetAuthority,
  encodeFleetInfo,
  issueCertificate,
} from "../../src/identity/fleet-authority.ts";
import { joinFleet } from "../../src/identity/fleet-membership.ts";
import { loadNodeKeys } from "../../src/identity/node-keys.ts";
import { systemClock } from "../../src/platform/clock.ts";
import { openStore } from "../../src/store/database.ts";

const { values: args } = parseArgs({
  options: { blocks: { type: "string" }, big: { type: "string" }, appends: { type: "string" } },
});
const BLOCKS = Number(args.blocks ?? 100_000);
const BIG = Number(args.big ?? 1_000_000);
const TAIL = 1000;
const APPENDS = Number(args.appends ?? 5000);
const PEER = resolve(import.meta.dir, "chain-peer.ts");
const root = mkdtempSync(join(tmpdir(), "kiana-bench-chain-"));
const now = Date.now();
const authority = createFleetAuthority({ dir: join(root, "authority"), fleetId: "bench", now });
const mib = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;
const progress = (text: string) => process.stderr.write(`[bench chain] ${text}\n`);

function enrol(name: string, role: "hub" | "node"): string {
  const dataDir = join(root, name);
  mkdirSync(dataDir);
  const keys = loadNodeKeys({ dataDir });
  const cert = issueCertificate(authority, {
    name,
    role,
    signingKey: keys.signingPublicKey,
    agreementKey: keys.agreementPublicKey,
    validDays: 30,
    now,
  });
  joinFleet({
    dataDir,
    keys,
    certificateText: encodeCertificate(cert),
    fleetInfoText: encodeFleetInfo(authority),
    now,
  });
  return dataDir;
}

/** A serving node in this process: its store, chain and a WebSocket listener on loopback. */
async function serve(name: string) {
  const dataDir = enrol(name, "hub");
  const store = openStore({ path: join(dataDir, "kiana.db") });
  const keys = loadNodeKeys({ dataDir });
  const node = await openChainNode({
    store,
    keys,
    membership: safeMembership(dataDir),
    revoked: [],
    clock: systemClock,
  });
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req, srv) => node.server.upgrade(req, srv),
    websocket: node.server.websocket,
  });
  return {
    dataDir,
    store,
    keys,
    node,
    url: `http://127.0.0.1:${server.port}`,
    stop: () => server.stop(true),
  };
}

// Bodies look like text, so the full-text index does the work it does for real knowledge.
const WORDS = "kitchen light timer garden sensor morning coffee window heating door battery printer".split(
  " ",
);
function body(bytes: number, i: number): Uint8Array {
  let s = `fact ${i}:`;
  for (let k = i; s.length < bytes; k = (k * 1103515245 + 12345) % 2 ** 31)
    s += ` ${WORDS[k % WORDS.length]}`;
  return new TextEncoder().encode(s.slice(0, bytes));
}

function fill(
  node: Awaited<ReturnType<typeof serve>>["node"],
  count: number,
  bytes: number,
  from = 0,
  batch = 1000,
) {
  for (let done = 0; done < count; done += batch) {
    const n = Math.min(batch, count - done);
    node.chainLog.appendBatch(
      Array.from({ length: n }, (_, k) => ({ type: "knowledge", body: body(bytes, from + done + k) })),
    );
    if ((done / batch) % 100 === 99) progress(`  ${from + done + n} blocks`);
  }
}

async function peer(dataDir: string, url: string, mode: "pull" | "idle") {
  const child = Bun.spawn([process.execPath, PEER, dataDir, url, mode], {
    stdout: "pipe",
    stderr: "inherit",
  });
  const out = await new Response(child.stdout).text();
  if ((await child.exited) !== 0) throw new Error(`chain-peer ${mode} failed: ${out}`);
  return JSON.parse(out.trim().split("\n").at(-1) as string);
}

/** The naive way: the receiver gets every block hash of the log, compares, asks for what it lacks. */
function naiveCatchUp(server: ChainStore, client: ChainStore, author: string) {
  let bytes = 1; // "send me all hashes"
  const have = client.length(author);
  const missing: number[] = [];
  let seq = 0;
  const mine = client.blocks(author, 0, have)[Symbol.iterator]();
  const t = performance.now();
  for (const { hash } of server.blocks(author, 0, server.length(author))) {
    bytes += hash.length;
    const own = mine.next();
    if (own.done || Buffer.compare(own.value.hash, hash) !== 0) missing.push(seq);
    seq++;
  }
  bytes += missing.length * 4; // the list of missing sequence numbers
  let payload = 0;
  for (const s of missing) {
    const b = server.block(author, s);
    if (b) {
      bytes += 4 + encodeBlock(b.block).length + 32; // length prefix, block, its hash
      payload += b.block.body.length;
    }
  }
  return {
    roundTrips: 2,
    missing: missing.length,
    overheadPerBlock: (bytes - payload) / missing.length,
    seconds: (performance.now() - t) / 1000,
  };
}

function appendThroughput(count: number) {
  const dataDir = join(root, "appends");
  const keys = loadNodeKeys({ dataDir });
  const db = openStore({ path: join(dataDir, "chain.db") });
  const log = createChainLog({ store: createSqliteChainStore({ store: db }), keys, clock: systemClock });
  const b = body(200, 1);
  let t = performance.now();
  for (let i = 0; i < count; i++) log.append("knowledge", b);
  const signedPerS = count / ((performance.now() - t) / 1000);
  const raw = openStore({ path: join(dataDir, "raw.db") });
  const insert = raw.db.query(
    "INSERT INTO chain_block (author, seq, ts, type, prev, body, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
  );
  const rows = [...db.db.query<BlockRow, []>("SELECT * FROM chain_block").iterate()];
  t = performance.now();
  for (const r of rows)
    raw.transaction(() => insert.run(r.author, r.seq, r.ts, r.type, r.prev, r.body, r.hash), {
      durable: true,
    });
  const rawPerS = count / ((performance.now() - t) / 1000);
  t = performance.now();
  for (let i = 0; i < count; i += 100)
    log.appendBatch(Array.from({ length: 100 }, () => ({ type: "knowledge", body: b })));
  const batchedPerS = count / ((performance.now() - t) / 1000);
  db.close();
  raw.close();
  return { signedPerS, rawPerS, batchedPerS };
}

try {
  progress(`initial sync: filling ${BLOCKS} blocks of 1 KiB`);
  const a = await serve("server-a");
  fill(a.node, BLOCKS, 1024);
  const pi = enrol("pi-a", "node");
  progress("initial sync: receiver pulls");
  const initial = await peer(pi, a.url, "pull");
  const payload = BLOCKS * 1024;
  const wire = initial.bytes.sent + initial.bytes.received + initial.bytes.framing;
  progress("idle check");
  const idle = await peer(pi, a.url, "idle");

  progress(`catch-up: filling ${BIG - TAIL} blocks of 256 B`);
  const b = await serve("server-b");
  fill(b.node, BIG - TAIL, 256);
  b.store.db.run("PRAGMA wal_checkpoint(TRUNCATE)");
  const behind = enrol("pi-b", "node");
  copyFileSync(join(b.dataDir, "kiana.db"), join(behind, "kiana.db"));
  copyFileSync(join(b.dataDir, "kiana.db"), join(root, "naive-copy.db"));
  fill(b.node, TAIL, 256, BIG - TAIL, 100);
  const catchUp = await peer(behind, b.url, "pull");
  const catchWire = catchUp.bytes.sent + catchUp.bytes.received + catchUp.bytes.framing;
  // The naive baseline starts from the same state: a copy of the receiver before it caught up.
  const naiveClient = openStore({ path: join(root, "naive-copy.db") });
  const naive = naiveCatchUp(
    b.node.chainStore,
    createSqliteChainStore({ store: naiveClient }),
    b.keys.fingerprint,
  );
  naiveClient.close();

  progress(`full sync of ${BIG} blocks into an empty receiver (peak RSS)`);
  const empty = enrol("pi-c", "node");
  const full = await peer(empty, b.url, "pull");

  progress(`append throughput: ${APPENDS} signed durable appends against raw SQLite`);
  const ap = appendThroughput(APPENDS);
  a.stop();
  b.stop();

  const rows: [string, string, string, string][] = [
    [
      "idle check, in sync",
      `${idle.roundTrips} round trip, ${idle.checkBytes} B (${idle.checkFrameBytes} B of frames)`,
      "1 RT, ≤ 400 B",
      `link handshake once per connection: 1 RT, ${idle.handshakeBytes} B`,
    ],
    [
      `initial sync ${BLOCKS} × 1 KiB`,
      `${Math.round(initial.stored / initial.seconds)} verified blocks/s stored`,
      "≥ 5000/s",
      `${initial.seconds.toFixed(1)} s`,
    ],
    [
      "  wire / payload",
      (wire / payload).toFixed(4),
      "≤ 1.15",
      `${mib(wire)} MiB for ${mib(payload)} MiB of bodies`,
    ],
    [
      `catch-up ${TAIL} × 256 B on ${BIG}`,
      `${catchUp.roundTrips} round trips, ${((catchWire - TAIL * 256) / TAIL).toFixed(1)} B/block overhead`,
      "≤ 2 RT, ≤ 48 B/block",
      `${catchUp.seconds.toFixed(2)} s`,
    ],
    [
      "  naive (all hashes)",
      `${naive.roundTrips} round trips, ${naive.overheadPerBlock.toFixed(0)} B/block overhead`,
      "baseline",
      `${naive.seconds.toFixed(2)} s to compare ${BIG} hashes`,
    ],
    [
      `receiver RSS, sync of ${BIG}`,
      `+${mib(full.peakRss - full.idleRss)} MiB above idle (${mib(full.idleRss)} → peak ${mib(full.peakRss)})`,
      "≤ +64 MB",
      `${Math.round(full.stored / full.seconds)} blocks/s, ${full.seconds.toFixed(1)} s`,
    ],
    [
      "append, signed + durable",
      `${Math.round(ap.signedPerS)}/s vs raw SQLite ${Math.round(ap.rawPerS)}/s`,
      "ratio",
      `${(ap.signedPerS / ap.rawPerS).toFixed(2)}; batched by 100: ${Math.round(ap.batchedPerS)}/s (${(ap.batchedPerS / ap.rawPerS).toFixed(1)}×)`,
    ],
  ];
  console.log("| measure | result | goal | notes |\n|---|---|---|---|");
  for (const r of rows) console.log(`| ${r.join(" | ")} |`);
  console.log(JSON.stringify({ initial, idle, catchUp, naive, full, appends: ap }));
} finally {
  rmSync(root, { recursive: true, force: true });
}
