// Test fixture: devices with their own keys and SQLite store, and a copy of logs between stores
// standing in for sync (which lives in src/chain/sync and is tested there).
import { rmSync } from "node:fs";
import { join } from "node:path";
import { loadNodeKeys, type NodeKeys } from "../../identity/node-keys.ts";
import { tempDir } from "../../identity/test-fleet.test-helper.ts";
import { createManualClock } from "../../platform/clock.ts";
import { openStore, type Store } from "../../store/index.ts";
import { createSqliteChainStore } from "../adapters/sqlite.ts";
import { type ChainLog, createChainLog } from "../log.ts";
import { type GetNode, nodesForAppend, type TreeNode } from "../merkle.ts";
import type { ChainStore } from "../ports.ts";
import { type ChainAuthority, createChainAuthority } from "./authority.ts";

export const text = (s: string) => new TextEncoder().encode(s);

/** Keys for `n` devices, sorted by fingerprint so tests can reason about turns. */
export function makeKeys(n: number): { keys: NodeKeys[]; cleanup: () => void } {
  const dir = tempDir("kiana-authority-");
  const keys = Array.from({ length: n }, (_, i) => loadNodeKeys({ dataDir: join(dir, `k${i}`) }));
  keys.sort((a, b) => (a.fingerprint < b.fingerprint ? -1 : 1));
  return { keys, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Device {
  keys: NodeKeys;
  fp: string;
  db: Store;
  chainStore: ChainStore;
  chain: ChainLog;
  clock: ReturnType<typeof createManualClock>;
  authority: ChainAuthority;
}

export function openDevice(
  keys: NodeKeys,
  genesis: readonly string[],
  opts: { path?: string; proposeTimeoutMs?: number } = {},
): Device {
  const db = openStore({ path: opts.path ?? ":memory:" });
  const chainStore = createSqliteChainStore({ store: db });
  const clock = createManualClock();
  const chain = createChainLog({ store: chainStore, keys, clock });
  const authority = createChainAuthority({
    store: db,
    chain,
    chainStore,
    keys,
    clock,
    genesisValidators: genesis,
    proposeTimeoutMs: opts.proposeTimeoutMs,
  });
  return { keys, fp: keys.fingerprint, db, chainStore, chain, clock, authority };
}

/**
 * Copies what `to` lacks of `author`'s log from `from`: blocks, inner nodes and the latest root
 * (or only the first `upTo` blocks, without a root, to stand in for a sync cut short).
 */
export function copyLog(from: ChainStore, to: ChainStore, author: string, upTo?: number): void {
  const have = to.length(author);
  const latest = from.latestSignedRoot(author);
  const length = Math.min(upTo ?? Number.POSITIVE_INFINITY, latest?.length ?? 0);
  if (length <= have) return;
  const get: GetNode = (i) => from.node(author, i);
  const blocks = [...from.blocks(author, have, length)];
  const nodes: TreeNode[] = blocks.flatMap((b) => nodesForAppend(b.block.seq, b.hash, get));
  to.append({ author, blocks, nodes, root: latest?.length === length ? latest : undefined });
}

/** Every log `from` holds, copied into `to`. */
export function copyAll(from: ChainStore, to: ChainStore): void {
  for (const author of from.authors()) copyLog(from, to, author);
}

/** Every derived authority table, in a stable order, for comparing two states. */
export function dumpDerived(db: Store): Record<string, unknown[]> {
  const tables = [
    "chain_vote",
    "chain_trust_vote",
    "chain_trust",
    "chain_checkpoint",
    "chain_checkpoint_head",
    "chain_endorsement",
    "chain_equivocation",
    "chain_final",
    "chain_validator",
    "chain_authority_meta",
    "chain_authority_inbox",
  ];
  const out: Record<string, unknown[]> = {};
  for (const t of tables) {
    const rows = db.db.query(`SELECT * FROM ${t}`).all();
    out[t] = rows.map((r) => JSON.stringify(r)).sort();
  }
  return out;
}
