// ChainStore on the node's SQLite database (migration 6): appends are one durable transaction,
// reads are single rows or streamed ranges through prepared statements, never whole logs.
import type { Store } from "../../store/database.ts";
import { checkAppend, checkRoot } from "../append-check.ts";
import type { ChainStore, StoredBlock } from "../ports.ts";
import type { SignedRoot } from "../signed-root.ts";

/** A chain_block row as stored (migration 6). */
export interface BlockRow {
  author: string;
  seq: number;
  ts: number;
  type: string;
  prev: Uint8Array;
  body: Uint8Array;
  hash: Uint8Array;
}

interface RootRow {
  author: string;
  length: number;
  root: Uint8Array;
  ts: number;
  sig: Uint8Array;
}

const toStored = (r: BlockRow): StoredBlock => ({
  block: {
    author: r.author,
    seq: r.seq,
    ts: r.ts,
    type: r.type,
    prev: new Uint8Array(r.prev),
    body: new Uint8Array(r.body),
  },
  hash: new Uint8Array(r.hash),
});

const toRoot = (r: RootRow): SignedRoot => ({
  author: r.author,
  length: r.length,
  root: new Uint8Array(r.root),
  ts: r.ts,
  signature: new Uint8Array(r.sig),
});

export function createSqliteChainStore(opts: { store: Store }): ChainStore {
  const { store } = opts;
  const db = store.db;
  const lengthQ = db.query<{ n: number | null }, [string]>(
    "SELECT max(seq) + 1 AS n FROM chain_block WHERE author = ?",
  );
  const blockQ = db.query<BlockRow, [string, number]>(
    "SELECT * FROM chain_block WHERE author = ? AND seq = ?",
  );
  const rangeQ = db.query<BlockRow, [string, number, number]>(
    "SELECT * FROM chain_block WHERE author = ? AND seq >= ? AND seq < ? ORDER BY seq",
  );
  const leafQ = db.query<{ hash: Uint8Array }, [string, number]>(
    "SELECT hash FROM chain_block WHERE author = ? AND seq = ?",
  );
  const nodeQ = db.query<{ hash: Uint8Array }, [string, number]>(
    "SELECT hash FROM chain_node WHERE author = ? AND idx = ?",
  );
  const latestQ = db.query<RootRow, [string]>(
    "SELECT * FROM chain_root WHERE author = ? ORDER BY length DESC LIMIT 1",
  );
  const authorsQ = db.query<{ author: string }, []>(
    "SELECT author FROM chain_block UNION SELECT author FROM chain_root ORDER BY author",
  );
  const insertBlock = db.query(
    "INSERT INTO chain_block (author, seq, ts, type, prev, body, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
  );
  const insertNode = db.query("INSERT OR REPLACE INTO chain_node (author, idx, hash) VALUES (?, ?, ?)");
  // The first root kept at a length wins: a second, different one is evidence, not an update.
  const insertRoot = db.query(
    "INSERT OR IGNORE INTO chain_root (author, length, root, ts, sig) VALUES (?, ?, ?, ?, ?)",
  );

  const pruneRoots = db.query("DELETE FROM chain_root WHERE author = ? AND length < ?");
  const length = (author: string) => lengthQ.get(author)?.n ?? 0;
  const putRoot = (r: SignedRoot) => insertRoot.run(r.author, r.length, r.root, r.ts, r.signature);

  return {
    append(batch) {
      store.transaction(
        () => {
          // Checked inside the IMMEDIATE transaction, so no other writer can move the length meanwhile.
          checkAppend(batch, length(batch.author));
          for (const { block: b, hash } of batch.blocks)
            insertBlock.run(b.author, b.seq, b.ts, b.type, b.prev, b.body, hash);
          for (const n of batch.nodes) insertNode.run(batch.author, n.index, n.hash);
          if (batch.root) {
            putRoot(batch.root);
            // The new root vouches for every older length too; one row per append would double
            // the size of a log of small blocks appended one at a time.
            pruneRoots.run(batch.author, batch.root.length);
          }
        },
        { durable: true },
      );
    },
    length,
    block(author, seq) {
      const row = blockQ.get(author, seq);
      return row ? toStored(row) : undefined;
    },
    *blocks(author, from, to) {
      for (const row of rangeQ.iterate(author, from, to)) yield toStored(row);
    },
    node(author, index) {
      if (!Number.isSafeInteger(index) || index < 0) return undefined;
      const row = index % 2 === 0 ? leafQ.get(author, index / 2) : nodeQ.get(author, index);
      return row ? new Uint8Array(row.hash) : undefined;
    },
    latestSignedRoot(author) {
      const row = latestQ.get(author);
      return row ? toRoot(row) : undefined;
    },
    putSignedRoot(root) {
      store.transaction(
        () => {
          checkRoot(root, length(root.author));
          putRoot(root);
        },
        { durable: true },
      );
    },
    authors() {
      return authorsQ.all().map((r) => r.author);
    },
  };
}
