// Opens the node's SQLite database: WAL, busy timeout, foreign keys, numbered migrations, and a
// quick_check whose failure becomes a health entry rather than a crash.
import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { describeError, kianaError } from "../errors.ts";
import type { HealthRegistry } from "../platform/health.ts";
import type { Logger } from "../platform/log.ts";
import { MIGRATIONS, type Migration } from "./migrations.ts";

export interface OpenStoreOptions {
  /** File path, or ":memory:". */
  path: string;
  busyTimeoutMs?: number;
  migrations?: readonly Migration[];
  health?: HealthRegistry;
  log?: Logger;
  now?: () => number;
}

export interface Store {
  readonly db: Database;
  readonly path: string;
  /** Schema version after migrations. */
  readonly version: number;
  /**
   * Runs fn in one IMMEDIATE transaction. `durable` commits with synchronous=FULL, so the
   * write is on disk when this returns (WAL's default NORMAL may lose the last commits on power loss).
   */
  transaction<T>(fn: (db: Database) => T, opts?: { durable?: boolean }): T;
  close(): void;
}

export function openStore(opts: OpenStoreOptions): Store {
  const now = opts.now ?? Date.now;
  const migrations = opts.migrations ?? MIGRATIONS;
  if (opts.path !== ":memory:") mkdirSync(dirname(opts.path), { recursive: true, mode: 0o700 });

  let db: Database;
  try {
    db = new Database(opts.path, { create: true, strict: true });
    db.run(`PRAGMA busy_timeout = ${Math.trunc(opts.busyTimeoutMs ?? 5000)}`);
    db.run("PRAGMA journal_mode = WAL");
  } catch (err) {
    throw kianaError(
      "STORE_CORRUPT",
      `cannot open the database ${opts.path}: ${describeError(err)}. The file was left as it is; restore a backup or move it aside.`,
      { path: opts.path },
      err,
    );
  }
  db.run("PRAGMA synchronous = NORMAL");
  db.run("PRAGMA foreign_keys = ON");

  checkIntegrity(db, opts);
  const version = migrate(db, migrations, now, opts.log);

  const transaction = <T>(fn: (d: Database) => T, topts: { durable?: boolean } = {}): T => {
    if (topts.durable) db.run("PRAGMA synchronous = FULL");
    try {
      return db.transaction(() => fn(db)).immediate();
    } finally {
      if (topts.durable) db.run("PRAGMA synchronous = NORMAL");
    }
  };

  return {
    db,
    path: opts.path,
    version,
    transaction,
    close() {
      try {
        db.run("PRAGMA optimize");
      } catch {
        // optimize is advisory; closing matters more
      }
      db.close();
    },
  };
}

function checkIntegrity(db: Database, opts: OpenStoreOptions): void {
  let problems: string[];
  try {
    problems = db
      .query<{ quick_check: string }, []>("PRAGMA quick_check")
      .all()
      .map((r) => r.quick_check)
      .filter((r) => r !== "ok");
  } catch (err) {
    problems = [describeError(err)];
  }
  if (problems.length === 0) {
    opts.health?.clear("STORE_CORRUPT");
    return;
  }
  const summary = problems.slice(0, 3).join("; ");
  opts.log?.error({ path: opts.path, problems: problems.slice(0, 10) }, "database failed quick_check");
  opts.health?.set({
    code: "STORE_CORRUPT",
    severity: "error",
    message: `The database ${opts.path} failed its integrity check: ${summary}`,
    hint: "Stop kiana, back up the data directory, then restore from a backup (kiana backup restore).",
  });
}

function migrate(db: Database, migrations: readonly Migration[], now: () => number, log?: Logger): number {
  db.run(`CREATE TABLE IF NOT EXISTS schema_migration (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at INTEGER NOT NULL
  ) STRICT`);
  const current =
    db.query<{ v: number | null }, []>("SELECT max(version) AS v FROM schema_migration").get()?.v ?? 0;
  const known = migrations.reduce((max, m) => Math.max(max, m.version), 0);
  if (current > known) {
    throw kianaError(
      "STORE_MIGRATION_FAILED",
      `the database is at schema version ${current}, newer than this kiana knows (${known}); run the newer kiana or restore a backup`,
      { current, known },
    );
  }
  const pending = [...migrations].filter((m) => m.version > current).sort((a, b) => a.version - b.version);
  for (const m of pending) {
    try {
      db.run("PRAGMA synchronous = FULL");
      db.transaction(() => {
        m.up(db);
        db.query("INSERT INTO schema_migration (version, name, applied_at) VALUES (?, ?, ?)").run(
          m.version,
          m.name,
          now(),
        );
      }).immediate();
    } catch (err) {
      throw kianaError(
        "STORE_MIGRATION_FAILED",
        `migration ${m.version} (${m.name}) failed: ${describeError(err)}; the database is unchanged at version ${
          m.version - 1
        }`,
        { version: m.version },
        err,
      );
    } finally {
      db.run("PRAGMA synchronous = NORMAL");
    }
    log?.info({ version: m.version, name: m.name }, "applied migration");
  }
  return pending.length > 0 ? (pending[pending.length - 1]?.version ?? current) : current;
}
