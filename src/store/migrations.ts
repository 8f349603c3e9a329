// Numbered schema migrations. Append only: a released migration is never edited, a new one is added.
import type { Database } from "bun:sqlite";
import { FEDAVG_MIGRATION } from "../fedavg/example-store.ts";
import { MODELS_MIGRATION } from "../models/registry-migration.ts";

export interface Migration {
  version: number;
  name: string;
  up(db: Database): void;
}

/**
 * Tables whose writes must survive power loss are written with synchronous=FULL (see database.ts):
 * admin credentials and sessions, the audit log, and anything else listed in DURABLE_TABLES.
 */
export const DURABLE_TABLES = ["admin_user", "audit_log"] as const;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "settings",
    up(db) {
      db.run(`CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT`);
    },
  },
  {
    version: 2,
    name: "admin users and sessions",
    up(db) {
      db.run(`CREATE TABLE admin_user (
        username TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT`);
      db.run(`CREATE TABLE admin_session (
        token_hash TEXT PRIMARY KEY,
        username TEXT NOT NULL REFERENCES admin_user(username) ON DELETE CASCADE,
        csrf_token TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
      ) STRICT`);
      db.run("CREATE INDEX admin_session_expiry ON admin_session(expires_at)");
    },
  },
  {
    version: 3,
    name: "audit log",
    up(db) {
      db.run(`CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        detail TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
      ) STRICT`);
    },
  },
  {
    version: 4,
    name: "mesh replay protection",
    up(db) {
      // Receiver side: the highest envelope sequence accepted from each sender.
      db.run(`CREATE TABLE mesh_replay (
        sender TEXT PRIMARY KEY,
        highest_seq INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT`);
      // Sender side: the end of the block of sequence numbers this node may already have used.
      db.run(`CREATE TABLE mesh_sequence (
        sender TEXT PRIMARY KEY,
        reserved INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT`);
    },
  },
  {
    version: 5,
    name: "mesh direct message outbox and receipts",
    up(db) {
      // Sender side: direct messages not yet acknowledged. `sealed` is the end-to-end ciphertext,
      // never the plaintext; each retry wraps it in a freshly signed envelope.
      db.run(`CREATE TABLE mesh_outbox (
        id TEXT PRIMARY KEY,
        recipient TEXT NOT NULL,
        recipient_node TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        next_at INTEGER NOT NULL,
        sealed BLOB NOT NULL
      ) STRICT`);
      db.run("CREATE INDEX mesh_outbox_next ON mesh_outbox(next_at)");
      // Receiver side: message ids already delivered per sender, so a retry is acked, not redelivered.
      db.run(`CREATE TABLE mesh_direct_seen (
        sender TEXT NOT NULL,
        id TEXT NOT NULL,
        seen_at INTEGER NOT NULL,
        PRIMARY KEY (sender, id)
      ) STRICT, WITHOUT ROWID`);
      db.run("CREATE INDEX mesh_direct_seen_at ON mesh_direct_seen(seen_at)");
    },
  },
  {
    version: 6,
    name: "chain logs, tree nodes and signed roots",
    up(db) {
      // A rowid table, not WITHOUT ROWID: bodies reach 64 KiB, and large rows belong out of the key b-tree.
      db.run(`CREATE TABLE chain_block (
        author TEXT NOT NULL,
        seq INTEGER NOT NULL,
        ts INTEGER NOT NULL,
        type TEXT NOT NULL,
        prev BLOB NOT NULL,
        body BLOB NOT NULL,
        hash BLOB NOT NULL,
        PRIMARY KEY (author, seq)
      ) STRICT`);
      // Inner nodes only; a leaf's hash is chain_block.hash, so a million blocks store it once.
      db.run(`CREATE TABLE chain_node (
        author TEXT NOT NULL,
        idx INTEGER NOT NULL,
        hash BLOB NOT NULL,
        PRIMARY KEY (author, idx)
      ) STRICT, WITHOUT ROWID`);
      db.run(`CREATE TABLE chain_root (
        author TEXT NOT NULL,
        length INTEGER NOT NULL,
        root BLOB NOT NULL,
        ts INTEGER NOT NULL,
        sig BLOB NOT NULL,
        PRIMARY KEY (author, length)
      ) STRICT, WITHOUT ROWID`);
    },
  },
  {
    version: 7,
    name: "chain authors, sync peers and full-text index",
    up(db) {
      // Public keys of log authors, learned from verified enrolment certificates (or this device's own).
      db.run(`CREATE TABLE chain_author (
        author TEXT PRIMARY KEY,
        signing_key BLOB NOT NULL,
        certificate TEXT,
        role TEXT,
        added_at INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID`);
      // What sync learned about each peer: a score that drops on refused data, and the last refusal.
      db.run(`CREATE TABLE chain_peer (
        peer TEXT PRIMARY KEY,
        score INTEGER NOT NULL DEFAULT 0,
        received INTEGER NOT NULL DEFAULT 0,
        refused INTEGER NOT NULL DEFAULT 0,
        last_reason TEXT,
        last_sync_at INTEGER,
        updated_at INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID`);
      // The admin block viewer lists newest first; without this a page would sort the whole table.
      db.run("CREATE INDEX chain_block_ts ON chain_block(ts, author, seq)");
      // Contentless: the text lives once, in chain_block.body; rowids match chain_block's.
      db.run(`CREATE VIRTUAL TABLE chain_fts USING fts5(text, content='', contentless_delete=1)`);
      db.run(`CREATE TRIGGER chain_block_fts AFTER INSERT ON chain_block WHEN NEW.type = 'knowledge'
        BEGIN INSERT INTO chain_fts(rowid, text) VALUES (NEW.rowid, CAST(NEW.body AS TEXT)); END`);
      db.run(`INSERT INTO chain_fts(rowid, text)
        SELECT rowid, CAST(body AS TEXT) FROM chain_block WHERE type = 'knowledge'`);
    },
  },
  {
    version: 8,
    name: "chain authority: votes, checkpoints, finality, validators and trust",
    up(db) {
      // Keys of vote/checkpoint blocks not yet indexed, written by a trigger in the block's own
      // transaction; the authority drains it with its strict decoder (src/chain/authority/state.ts).
      db.run(`CREATE TABLE chain_authority_inbox (
        author TEXT NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (author, seq)
      ) STRICT, WITHOUT ROWID`);
      db.run(`CREATE TRIGGER chain_block_authority AFTER INSERT ON chain_block
        WHEN NEW.type IN ('vote', 'checkpoint')
        BEGIN INSERT OR IGNORE INTO chain_authority_inbox (author, seq) VALUES (NEW.author, NEW.seq); END`);
      db.run(`INSERT OR IGNORE INTO chain_authority_inbox (author, seq)
        SELECT author, seq FROM chain_block WHERE type IN ('vote', 'checkpoint')`);
      // Add/remove-validator votes, one row per vote block.
      db.run(`CREATE TABLE chain_vote (
        voter TEXT NOT NULL,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        validator TEXT NOT NULL,
        PRIMARY KEY (voter, seq)
      ) STRICT, WITHOUT ROWID`);
      db.run("CREATE INDEX chain_vote_target ON chain_vote (voter, validator, seq)");
      // Each voter's standing confirm/dispute vote per knowledge block, and the counts per author.
      db.run(`CREATE TABLE chain_trust_vote (
        author TEXT NOT NULL,
        seq INTEGER NOT NULL,
        voter TEXT NOT NULL,
        vote_seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        PRIMARY KEY (author, seq, voter)
      ) STRICT, WITHOUT ROWID`);
      db.run(`CREATE TABLE chain_trust (
        author TEXT PRIMARY KEY,
        confirms INTEGER NOT NULL,
        disputes INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID`);
      // Proposals (id = hex leaf hash of the proposal block), their heads, and endorsements.
      db.run(`CREATE TABLE chain_checkpoint (
        id TEXT PRIMARY KEY,
        height INTEGER NOT NULL,
        prev TEXT NOT NULL,
        proposer TEXT NOT NULL,
        seq INTEGER NOT NULL,
        ts INTEGER NOT NULL,
        heads INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID`);
      db.run("CREATE INDEX chain_checkpoint_height ON chain_checkpoint (height, prev, proposer)");
      db.run(`CREATE TABLE chain_checkpoint_head (
        id TEXT NOT NULL,
        author TEXT NOT NULL,
        length INTEGER NOT NULL,
        root TEXT NOT NULL,
        PRIMARY KEY (id, author)
      ) STRICT, WITHOUT ROWID`);
      db.run(`CREATE TABLE chain_endorsement (
        endorser TEXT NOT NULL,
        seq INTEGER NOT NULL,
        checkpoint TEXT NOT NULL,
        height INTEGER NOT NULL,
        PRIMARY KEY (endorser, seq)
      ) STRICT, WITHOUT ROWID`);
      db.run("CREATE INDEX chain_endorsement_height ON chain_endorsement (height, endorser, checkpoint)");
      db.run(`CREATE TABLE chain_equivocation (
        height INTEGER NOT NULL,
        endorser TEXT NOT NULL,
        PRIMARY KEY (height, endorser)
      ) STRICT, WITHOUT ROWID`);
      // Derived by replaying heights: the chosen final checkpoint per height, and validator
      // membership as intervals [from_height, to_height) so a set change costs one row, not one per height.
      db.run(`CREATE TABLE chain_final (
        height INTEGER PRIMARY KEY,
        id TEXT NOT NULL,
        signers INTEGER NOT NULL
      ) STRICT`);
      db.run(`CREATE TABLE chain_validator (
        fingerprint TEXT NOT NULL,
        from_height INTEGER NOT NULL,
        to_height INTEGER,
        PRIMARY KEY (fingerprint, from_height)
      ) STRICT, WITHOUT ROWID`);
      // The lowest height whose finality must be replayed (key 'dirty_from'); absent when up to date.
      db.run(`CREATE TABLE chain_authority_meta (
        key TEXT PRIMARY KEY,
        value ANY
      ) STRICT, WITHOUT ROWID`);
    },
  },
  // The model registry keeps its table beside its code.
  MODELS_MIGRATION,
  // FedAvg's local examples, likewise beside their code.
  FEDAVG_MIGRATION,
];
