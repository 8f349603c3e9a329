// The authority's derived state in SQLite (migration 8): vote and checkpoint blocks indexed in
// bounded batches, then the replay of finality; `rebuild` recomputes all of it from the blocks.
//
// Why a queue filled by a trigger rather than a trigger that parses JSON: the trigger records the
// block's key in the block's own transaction, so no block is ever missed, while the one strict
// TypeScript decoder decides what a body means (SQLite's json functions accept duplicate keys,
// extra keys and floats, and a second parser would disagree with it sooner or later). And why not a
// rowid cursor: chain_block has no INTEGER PRIMARY KEY, so VACUUM may renumber its rowids.

import type { Store } from "../../store/index.ts";
import type { BlockRow } from "../adapters/sqlite.ts";
import { leafHash } from "../block.ts";
import { decodeCheckpoint, decodeVote, isBlockVote } from "./bodies.ts";
import { createReplay, type Replay } from "./replay.ts";
import { type StandingVote, type TrustCounts, trustDelta, uncountedReason } from "./trust.ts";

/**
 * Blocks indexed per transaction (bodies up to 64 KiB each, so at most 8 MiB held), and heights
 * replayed per transaction: bounded memory and short write locks whatever the chain's length.
 */
const INDEX_BATCH = 128;
const WALK_BATCH = 256;

const DERIVED_TABLES = [
  "chain_vote",
  "chain_trust_vote",
  // No longer written (counts are read from chain_trust_vote); cleared so no stale row lingers.
  "chain_trust",
  "chain_checkpoint",
  "chain_checkpoint_head",
  "chain_endorsement",
  "chain_equivocation",
  "chain_final",
  "chain_validator",
  "chain_authority_meta",
] as const;

export interface AuthorityState {
  readonly replay: Replay;
  /** Indexes blocks appended since the last call and replays what they change. Cheap when idle. */
  refresh(): { indexed: number; replayedFrom?: number };
  /** Drops every derived row and indexes and replays all vote and checkpoint blocks again. */
  rebuild(): void;
  /** Standing votes on `author`'s knowledge blocks this device holds; any other vote waits or is void. */
  trustCounts(author: string): TrustCounts;
  /** Standing votes on `author`'s blocks that count for nothing now, each with the reason. */
  uncountedVotes(
    author: string,
  ): { seq: number; voter: string; kind: StandingVote["kind"]; reason: string }[];
  /** Validators seen endorsing two proposals at one height, newest heights first. */
  equivocations(limit?: number): { height: number; endorser: string }[];
  /** Proposals by members of `validators` above height `above`. */
  pendingCount(above: number, validators: readonly string[]): number;
  /** The checkpoint `endorser` endorsed at `height`, if any. */
  endorsedAt(endorser: string, height: number): string | undefined;
  /** The proposal `proposer` made at `height` on top of `prev`, if any. */
  proposedAt(proposer: string, height: number, prev: string): string | undefined;
}

export function createAuthorityState(opts: { store: Store; genesis: readonly string[] }): AuthorityState {
  const { store } = opts;
  const db = store.db;
  const genesis = [...new Set(opts.genesis)].sort();
  const replay = createReplay(db);
  const q = {
    inbox: db.query<BlockRow, [number]>(
      `SELECT b.* FROM chain_authority_inbox i JOIN chain_block b ON b.author = i.author AND b.seq = i.seq
        ORDER BY i.author, i.seq LIMIT ?`,
    ),
    waiting: db.query<{ one: number }, []>("SELECT 1 AS one FROM chain_authority_inbox LIMIT 1"),
    done: db.query<void, [string, number]>("DELETE FROM chain_authority_inbox WHERE author = ? AND seq = ?"),
    dirty: db.query<{ value: number }, []>("SELECT value FROM chain_authority_meta WHERE key = 'dirty_from'"),
    lower: db.query<void, [number]>(
      `INSERT INTO chain_authority_meta (key, value) VALUES ('dirty_from', ?)
        ON CONFLICT (key) DO UPDATE SET value = min(value, excluded.value)`,
    ),
    setDirty: db.query<void, [number]>("UPDATE chain_authority_meta SET value = ? WHERE key = 'dirty_from'"),
    clean: db.query<void, []>("DELETE FROM chain_authority_meta WHERE key = 'dirty_from'"),
    vote: db.query<void, [string, number, string, string]>(
      "INSERT OR IGNORE INTO chain_vote (voter, seq, kind, validator) VALUES (?, ?, ?, ?)",
    ),
    standing: db.query<{ kind: StandingVote["kind"]; voteSeq: number }, [string, number, string]>(
      "SELECT kind, vote_seq AS voteSeq FROM chain_trust_vote WHERE author = ? AND seq = ? AND voter = ?",
    ),
    putStanding: db.query<void, [string, number, string, number, string]>(
      "INSERT OR REPLACE INTO chain_trust_vote (author, seq, voter, vote_seq, kind) VALUES (?, ?, ?, ?, ?)",
    ),
    // Counted when read, joined to the target block: a vote on a block that arrives later counts
    // from then on, and one on a checkpoint, vote or config block never does, whatever the order.
    trust: db.query<TrustCounts, [string]>(
      `SELECT coalesce(sum(v.kind = 'confirm'), 0) AS confirms, coalesce(sum(v.kind = 'dispute'), 0) AS disputes
        FROM chain_trust_vote v JOIN chain_block b ON b.author = v.author AND b.seq = v.seq
        WHERE v.author = ? AND b.type = 'knowledge'`,
    ),
    uncounted: db.query<
      { seq: number; voter: string; kind: StandingVote["kind"]; type: string | null },
      [string]
    >(
      `SELECT v.seq, v.voter, v.kind, b.type FROM chain_trust_vote v
        LEFT JOIN chain_block b ON b.author = v.author AND b.seq = v.seq
        WHERE v.author = ? AND (b.type IS NULL OR b.type <> 'knowledge') ORDER BY v.seq, v.voter`,
    ),
    propose: db.query<void, [string, number, string, string, number, number, number]>(
      `INSERT OR IGNORE INTO chain_checkpoint (id, height, prev, proposer, seq, ts, heads)
        VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    head: db.query<void, [string, string, number, string]>(
      "INSERT OR IGNORE INTO chain_checkpoint_head (id, author, length, root) VALUES (?, ?, ?, ?)",
    ),
    endorse: db.query<void, [string, number, string, number]>(
      "INSERT OR IGNORE INTO chain_endorsement (endorser, seq, checkpoint, height) VALUES (?, ?, ?, ?)",
    ),
    equivocate: db.query<void, [number, string, string]>(
      `INSERT OR IGNORE INTO chain_equivocation (height, endorser) SELECT ?1, ?2 WHERE EXISTS
        (SELECT 1 FROM chain_endorsement WHERE height = ?1 AND endorser = ?2 AND checkpoint <> ?3)`,
    ),
    equivocations: db.query<{ height: number; endorser: string }, [number]>(
      "SELECT height, endorser FROM chain_equivocation ORDER BY height DESC, endorser LIMIT ?",
    ),
    pending: db.query<{ n: number }, [number, string]>(
      `SELECT count(*) AS n FROM chain_checkpoint WHERE height > ?
        AND proposer IN (SELECT value FROM json_each(?))`,
    ),
    endorsedAt: db.query<{ checkpoint: string }, [number, string]>(
      "SELECT checkpoint FROM chain_endorsement WHERE height = ? AND endorser = ? ORDER BY seq LIMIT 1",
    ),
    proposedAt: db.query<{ id: string }, [number, string, string]>(
      "SELECT id FROM chain_checkpoint WHERE height = ? AND prev = ? AND proposer = ? ORDER BY seq LIMIT 1",
    ),
    genesis: db.query<{ fingerprint: string }, []>(
      "SELECT fingerprint FROM chain_validator WHERE from_height = 1 ORDER BY fingerprint",
    ),
  };

  /** Derived rows of one block; all of them order-independent, so any replay order agrees. */
  function index(row: BlockRow): void {
    const { author, seq } = row;
    if (row.type === "vote") {
      const vote = decodeVote(new Uint8Array(row.body));
      if (!vote.ok) return;
      const v = vote.value;
      if (!isBlockVote(v)) {
        q.vote.run(author, seq, v.kind, v.validator);
        const covering = replay.coveringHeight(author, seq);
        if (covering !== undefined) q.lower.run(covering + 1);
        return;
      }
      const standing = q.standing.get(v.author, v.seq, author) ?? undefined;
      const d = trustDelta(standing, {
        voter: author,
        voteSeq: seq,
        kind: v.kind,
        author: v.author,
        seq: v.seq,
      });
      if (d.replace) q.putStanding.run(v.author, v.seq, author, seq, v.kind);
      return;
    }
    const body = decodeCheckpoint(new Uint8Array(row.body));
    if (!body.ok) return;
    const c = body.value;
    if (c.kind === "propose") {
      const block = { ...row, prev: new Uint8Array(row.prev), body: new Uint8Array(row.body) };
      const id = Buffer.from(leafHash(block)).toString("hex");
      q.propose.run(id, c.height, c.prev, author, seq, row.ts, c.heads.length);
      for (const h of c.heads) q.head.run(id, h.author, h.length, h.root);
    } else {
      q.endorse.run(author, seq, c.checkpoint, c.height);
      q.equivocate.run(c.height, author, c.checkpoint);
    }
    q.lower.run(c.height);
  }

  function refresh() {
    let indexed = 0;
    // Reads are frequent and usually find nothing new: check before taking the write lock.
    if (!q.waiting.get() && !q.dirty.get()) return { indexed };
    for (;;) {
      const n = store.transaction(() => {
        const rows = q.inbox.all(INDEX_BATCH);
        for (const row of rows) {
          index(row);
          q.done.run(row.author, row.seq);
        }
        return rows.length;
      });
      indexed += n;
      if (n < INDEX_BATCH) break;
    }
    let replayedFrom: number | undefined;
    for (let from = q.dirty.get()?.value; from !== undefined; from = q.dirty.get()?.value) {
      replayedFrom ??= Math.min(from, replay.finalHeight() + 1);
      store.transaction(() => {
        const next = replay.walk(from as number, WALK_BATCH, genesis);
        if (next === undefined) q.clean.run();
        else q.setDirty.run(next);
      });
    }
    return { indexed, replayedFrom };
  }

  // A changed genesis configuration changes every height, so the replay starts over at 1.
  const stored = q.genesis.all().map((r) => r.fingerprint);
  if (stored.join() !== genesis.join()) store.transaction(() => q.lower.run(1));

  return {
    replay,
    refresh,
    rebuild() {
      store.transaction(() => {
        for (const table of DERIVED_TABLES) db.run(`DELETE FROM ${table}`);
        db.run(`INSERT OR IGNORE INTO chain_authority_inbox (author, seq)
          SELECT author, seq FROM chain_block WHERE type IN ('vote', 'checkpoint')`);
        q.lower.run(1);
      });
      refresh();
    },
    trustCounts: (author) => q.trust.get(author) ?? { confirms: 0, disputes: 0 },
    uncountedVotes: (author) =>
      q.uncounted
        .all(author)
        .map(({ type, ...v }) => ({ ...v, reason: uncountedReason(v.seq, type ?? undefined) })),
    equivocations: (limit = 20) => q.equivocations.all(limit),
    pendingCount: (above, validators) => q.pending.get(above, JSON.stringify(validators))?.n ?? 0,
    endorsedAt: (endorser, height) => q.endorsedAt.get(height, endorser)?.checkpoint,
    proposedAt: (proposer, height, prev) => q.proposedAt.get(height, prev, proposer)?.id,
  };
}
