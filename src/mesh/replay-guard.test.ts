import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { tempDir } from "../identity/test-fleet.test-helper.ts";
import { openStore } from "../store/index.ts";
import {
  createMemoryReplayGuard,
  createSequenceCounter,
  createSqliteReplayGuard,
  DEFAULT_MAX_SKEW_MS,
  type ReplayGuard,
} from "./replay-guard.ts";

const NOW = 1_700_000_000_000;
const A = "a".repeat(32);
const B = "b".repeat(32);
const reason = (v: ReturnType<ReplayGuard["check"]>) => (v.ok ? "ok" : v.reason);

// One contract, run against every implementation.
const implementations: [string, () => ReplayGuard][] = [
  ["memory", () => createMemoryReplayGuard()],
  ["sqlite", () => createSqliteReplayGuard({ store: openStore({ path: ":memory:" }), now: () => NOW })],
];

for (const [name, make] of implementations) {
  describe(`replay guard contract: ${name}`, () => {
    test("seq must rise above the highest accepted, per sender", () => {
      const g = make();
      expect(reason(g.check(A, 5, NOW, NOW))).toBe("ok");
      g.accept(A, 5);
      expect(reason(g.check(A, 5, NOW, NOW))).toBe("replay");
      expect(reason(g.check(A, 4, NOW, NOW))).toBe("replay");
      expect(reason(g.check(A, 6, NOW, NOW))).toBe("ok");
      expect(reason(g.check(B, 1, NOW, NOW))).toBe("ok");
      g.accept(A, 9);
      g.accept(A, 7); // a late accept never lowers the mark
      expect(reason(g.check(A, 8, NOW, NOW))).toBe("replay");
      expect(reason(g.check(A, 10, NOW, NOW))).toBe("ok");
    });

    test("timestamps outside ±maxSkew are refused, the edge is allowed", () => {
      const g = make();
      expect(reason(g.check(A, 1, NOW + DEFAULT_MAX_SKEW_MS, NOW))).toBe("ok");
      expect(reason(g.check(A, 1, NOW - DEFAULT_MAX_SKEW_MS, NOW))).toBe("ok");
      expect(reason(g.check(A, 1, NOW + DEFAULT_MAX_SKEW_MS + 1, NOW))).toBe("clock-skew");
      expect(reason(g.check(A, 1, NOW - DEFAULT_MAX_SKEW_MS - 1, NOW))).toBe("clock-skew");
      expect(reason(g.check(A, 1, NOW + 2000, NOW, 1000))).toBe("clock-skew");
    });
  });
}

describe("sqlite persistence", () => {
  test("the receiver's marks survive a restart", () => {
    const path = join(tempDir(), "kiana.db");
    let store = openStore({ path });
    createSqliteReplayGuard({ store }).accept(A, 42);
    store.close();
    store = openStore({ path });
    const g = createSqliteReplayGuard({ store });
    expect(reason(g.check(A, 42, NOW, NOW))).toBe("replay");
    expect(reason(g.check(A, 43, NOW, NOW))).toBe("ok");
    store.close();
  });

  test("the sender's sequence keeps rising across restarts, one write per block", () => {
    const path = join(tempDir(), "kiana.db");
    let store = openStore({ path });
    let counter = createSequenceCounter(store, { sender: A, timeFloor: false, blockSize: 10 });
    const first = [1, 2, 3].map(() => counter.next());
    expect(first).toEqual([1, 2, 3]);
    const reserved = () =>
      store.db.query<{ reserved: number }, []>("SELECT reserved FROM mesh_sequence").get()?.reserved;
    expect(reserved()).toBe(10);
    for (let i = 0; i < 8; i++) counter.next();
    expect(reserved()).toBe(20);
    store.close();

    store = openStore({ path });
    counter = createSequenceCounter(store, { sender: A, timeFloor: false, blockSize: 10 });
    expect(counter.next()).toBe(21);
    const other = createSequenceCounter(store, { sender: B, timeFloor: false });
    expect(other.next()).toBe(1);
    store.close();
  });

  test("with the time floor, a database restored from an old backup still counts upward", () => {
    const store = openStore({ path: ":memory:" });
    const counter = createSequenceCounter(store, { sender: A, now: () => 2_000 });
    expect(counter.next()).toBe(2_000_001);
    // Same database, clock set back (no RTC before NTP): the stored reservation wins.
    const again = createSequenceCounter(store, { sender: A, now: () => 1_000 });
    expect(again.next()).toBeGreaterThan(2_000_001);
  });
});
