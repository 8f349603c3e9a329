// A device's own training examples (confirmed wake detections, cancelled false wakes, corrected
// intents), kept in its SQLite database and read only by the local trainer: no code path sends a row.
// The migration lives here, beside its code, and is appended in src/store/migrations.ts.
import type { Database } from "bun:sqlite";
import type { Migration } from "../store/migrations.ts";
import type { Example } from "./trainer.ts";

export const FEDAVG_MIGRATION: Migration = {
  version: 10,
  name: "fedavg local examples",
  up(db) {
    // `task` separates models that learn on the same device (wake verifier, intent classifier);
    // features are little-endian float32, their length checked against the model at read time.
    db.run(`CREATE TABLE fedavg_example (
      id INTEGER PRIMARY KEY,
      task TEXT NOT NULL,
      label INTEGER NOT NULL CHECK (label IN (0, 1)),
      features BLOB NOT NULL CHECK (length(features) % 4 = 0),
      source TEXT NOT NULL,
      created_at INTEGER NOT NULL
    ) STRICT`);
    db.run("CREATE INDEX fedavg_example_task ON fedavg_example (task, id)");
  },
};

/** The migrations with this one appended unless already present (as for the model registry). */
export function withFedavgMigration(migrations: readonly Migration[]): readonly Migration[] {
  return migrations.some((m) => m.version === FEDAVG_MIGRATION.version)
    ? migrations
    : [...migrations, FEDAVG_MIGRATION];
}

export interface ExampleStoreOptions {
  db: Database;
  now?: () => number;
  /** Oldest rows of a task are deleted beyond this many, so storage stays bounded. Default 5000. */
  maxPerTask?: number;
}

export interface ExampleStore {
  /** `source` says why it is an example, e.g. "confirmed" or "cancelled". */
  add(task: string, x: Float32Array, y: 0 | 1, source: string): void;
  /** The newest `limit` examples of a task whose feature length is `inputs`, oldest first. */
  list(task: string, inputs: number, limit?: number): Example[];
  count(task: string): { positive: number; negative: number };
  clear(task: string): void;
}

export function createExampleStore(opts: ExampleStoreOptions): ExampleStore {
  const { db } = opts;
  const now = opts.now ?? Date.now;
  const max = opts.maxPerTask ?? 5000;
  const insert = db.query(
    "INSERT INTO fedavg_example (task, label, features, source, created_at) VALUES (?, ?, ?, ?, ?)",
  );
  const trim = db.query(`DELETE FROM fedavg_example WHERE task = ?1 AND id <= (
      SELECT id FROM fedavg_example WHERE task = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)`);
  const select = db.query<{ label: number; features: Uint8Array }, [string, number, number]>(
    `SELECT label, features FROM (SELECT id, label, features FROM fedavg_example
      WHERE task = ? AND length(features) = ? ORDER BY id DESC LIMIT ?) ORDER BY id`,
  );
  const counts = db.query<{ label: number; n: number }, [string]>(
    "SELECT label, count(*) AS n FROM fedavg_example WHERE task = ? GROUP BY label",
  );
  return {
    add(task, x, y, source) {
      if (!x.every(Number.isFinite)) throw new RangeError("fedavg example store: features must be finite");
      const bytes = new Uint8Array(x.buffer.slice(x.byteOffset, x.byteOffset + x.byteLength));
      db.transaction(() => {
        insert.run(task, y, bytes, source, now());
        trim.run(task, max);
      })();
    },
    list(task, inputs, limit = max) {
      return select.all(task, inputs * 4, limit).map((r) => {
        const x = new Float32Array(inputs);
        new Uint8Array(x.buffer).set(r.features);
        return { x, y: r.label === 1 ? 1 : 0 };
      });
    },
    count(task) {
      const out = { positive: 0, negative: 0 };
      for (const r of counts.all(task)) out[r.label === 1 ? "positive" : "negative"] = r.n;
      return out;
    },
    clear(task) {
      db.run("DELETE FROM fedavg_example WHERE task = ?", [task]);
    },
  };
}
