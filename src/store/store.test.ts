import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { closeSync, mkdtempSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isKianaError } from "../errors.ts";
import { createHealthRegistry } from "../platform/health.ts";
import { MIGRATIONS, type Migration, openStore } from "./index.ts";

const dbPath = () => join(mkdtempSync(join(tmpdir(), "kiana-store-")), "kiana.db");

describe("openStore", () => {
  test("a new database gets every migration, WAL and foreign keys", () => {
    const store = openStore({ path: dbPath() });
    expect(store.version).toBe(MIGRATIONS.length);
    expect(store.db.query<{ journal_mode: string }, []>("PRAGMA journal_mode").get()?.journal_mode).toBe(
      "wal",
    );
    expect(store.db.query<{ foreign_keys: number }, []>("PRAGMA foreign_keys").get()?.foreign_keys).toBe(1);
    expect(store.db.query<{ timeout: number }, []>("PRAGMA busy_timeout").get()?.timeout).toBe(5000);
    const tables = store.db
      .query<{ name: string }, []>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .all()
      .map((r) => r.name);
    expect(tables).toEqual(expect.arrayContaining(["settings", "admin_user", "admin_session", "audit_log"]));
    store.close();
  });

  test("an old database is upgraded in place and keeps its rows", () => {
    const path = dbPath();
    const old = openStore({ path, migrations: MIGRATIONS.slice(0, 1) });
    expect(old.version).toBe(1);
    old.db.query("INSERT INTO settings (key, value, updated_at) VALUES ('greeting', 'hello', 1)").run();
    old.close();

    const store = openStore({ path });
    expect(store.version).toBe(MIGRATIONS.length);
    expect(
      store.db.query<{ value: string }, []>("SELECT value FROM settings WHERE key = 'greeting'").get()?.value,
    ).toBe("hello");
    const applied = store.db
      .query<{ version: number }, []>("SELECT version FROM schema_migration ORDER BY version")
      .all();
    expect(applied.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
    store.close();
  });

  test("a failing migration rolls back and leaves the database at the previous version", () => {
    const path = dbPath();
    openStore({ path }).close();
    const broken: Migration = {
      version: MIGRATIONS.length + 1,
      name: "broken",
      up(db) {
        db.run("CREATE TABLE half_done (x INTEGER)");
        db.run("INSERT INTO no_such_table VALUES (1)");
      },
    };
    let caught: unknown;
    try {
      openStore({ path, migrations: [...MIGRATIONS, broken] });
    } catch (err) {
      caught = err;
    }
    expect(isKianaError(caught, "STORE_MIGRATION_FAILED")).toBe(true);
    expect((caught as Error).message).toContain(`migration ${broken.version} (broken) failed`);
    const store = openStore({ path });
    expect(store.version).toBe(MIGRATIONS.length);
    expect(store.db.query("SELECT name FROM sqlite_master WHERE name = 'half_done'").get()).toBeNull();
    store.close();
  });

  test("a database newer than this build is refused, not touched", () => {
    const path = dbPath();
    const future: Migration = { version: 99, name: "future", up: () => {} };
    openStore({ path, migrations: [...MIGRATIONS, future] }).close();
    const before = readFileSync(path);
    expect(() => openStore({ path })).toThrow(/schema version 99, newer than this kiana knows/);
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  test("a file that is not a database is refused with its path and left in place", () => {
    const path = dbPath();
    writeFileSync(path, "this is not sqlite, it is a shopping list\n".repeat(200));
    const before = readFileSync(path);
    let caught: unknown;
    try {
      openStore({ path });
    } catch (err) {
      caught = err;
    }
    expect(isKianaError(caught, "STORE_CORRUPT")).toBe(true);
    expect((caught as Error).message).toContain(path);
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  test("a damaged page shows up as a STORE_CORRUPT health entry", () => {
    const path = dbPath();
    const raw = new Database(path);
    raw.run("PRAGMA page_size = 4096");
    raw.run("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
    raw.run("CREATE INDEX t_v ON t(v)");
    const insert = raw.query("INSERT INTO t (v) VALUES (?)");
    raw.transaction(() => {
      for (let i = 0; i < 3000; i++) insert.run(`value-${i}-${"x".repeat(40)}`);
    })();
    raw.close();
    // Scribble over the middle of the file: b-tree pages that no longer parse.
    const fd = openSync(path, "r+");
    writeSync(fd, Buffer.alloc(4096 * 3, 0x5a), 0, 4096 * 3, 4096 * 10);
    closeSync(fd);

    const health = createHealthRegistry();
    let store: ReturnType<typeof openStore> | undefined;
    try {
      store = openStore({ path, health });
    } catch (err) {
      // Damage deep enough to stop migrations is also reported, by code.
      expect(isKianaError(err)).toBe(true);
    }
    const entry = health.list().find((e) => e.code === "STORE_CORRUPT");
    expect(entry?.severity).toBe("error");
    expect(entry?.message).toContain("failed its integrity check");
    expect(health.ok()).toBe(false);
    store?.close();
  });

  test("durable transactions commit with synchronous=FULL and restore NORMAL after", () => {
    const store = openStore({ path: dbPath() });
    const seen = store.transaction(
      (db) => {
        db.query("INSERT INTO settings (key, value, updated_at) VALUES ('k', 'v', 1)").run();
        return db.query<{ synchronous: number }, []>("PRAGMA synchronous").get()?.synchronous;
      },
      { durable: true },
    );
    expect(seen).toBe(2);
    expect(store.db.query<{ synchronous: number }, []>("PRAGMA synchronous").get()?.synchronous).toBe(1);
    store.close();
  });
});
