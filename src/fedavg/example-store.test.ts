// The local example store: rows survive as written, stay per task, and are bounded per task.
import { describe, expect, test } from "bun:test";
import { openStore } from "../store/index.ts";
import { MIGRATIONS } from "../store/migrations.ts";
import { createExampleStore, FEDAVG_MIGRATION, withFedavgMigration } from "./example-store.ts";

describe("fedavg example store", () => {
  test("is part of the node's migrations", () => {
    expect(withFedavgMigration(MIGRATIONS)).toBe(MIGRATIONS);
    expect(MIGRATIONS.at(-1)).toBe(FEDAVG_MIGRATION);
  });

  test("stores, lists newest-bounded, counts and trims per task", () => {
    const store = openStore({ path: ":memory:" });
    let t = 0;
    const ex = createExampleStore({ db: store.db, now: () => ++t, maxPerTask: 5 });
    for (let i = 0; i < 8; i++)
      ex.add("wake", Float32Array.of(i, i + 0.5, -i), (i % 2) as 0 | 1, "confirmed");
    ex.add("intent", Float32Array.of(1, 2), 1, "corrected");
    const rows = ex.list("wake", 3);
    expect(rows.map((r) => r.x[0])).toEqual([3, 4, 5, 6, 7]);
    expect(rows[0]?.x).toEqual(Float32Array.of(3, 3.5, -3));
    expect(ex.list("wake", 3, 2).map((r) => r.x[0])).toEqual([6, 7]);
    expect(ex.list("wake", 4)).toEqual([]);
    expect(ex.count("wake")).toEqual({ positive: 3, negative: 2 });
    expect(() => ex.add("wake", Float32Array.of(Number.NaN), 0, "x")).toThrow(/finite/);
    ex.clear("wake");
    expect(ex.count("wake")).toEqual({ positive: 0, negative: 0 });
    expect(ex.count("intent")).toEqual({ positive: 1, negative: 0 });
    store.close();
  });
});
