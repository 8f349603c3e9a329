import { expect, test } from "bun:test";
import { createManualClock } from "../../platform/clock.ts";
import { createLogger } from "../../platform/log.ts";
import { startSyncSchedule, syncTargets } from "./schedule.ts";

test("only enrolled peers that are heard from and reachable are sync targets", () => {
  const t = syncTargets([
    { name: "hub", fingerprint: "a", state: "healthy", addresses: ["fe80::1", "10.0.0.2"], adminPort: 8080 },
    { name: "pi", fingerprint: "b", state: "discovered", addresses: ["10.0.0.3"], adminPort: 8080 },
    { name: "old", fingerprint: "c", state: "failed", addresses: ["10.0.0.4"], adminPort: 8080 },
    { name: "v6", fingerprint: "d", state: "online", addresses: ["fd00::5"], adminPort: 9 },
    { name: "noport", fingerprint: "e", state: "healthy", addresses: ["10.0.0.6"] },
  ]);
  // Without an address and port, only the broker can reach it: a target without a URL.
  expect(t.map((x) => [x.name, x.url])).toEqual([
    ["hub", "http://10.0.0.2:8080"],
    ["v6", "http://[fd00::5]:9"],
    ["noport", undefined],
  ]);
});

test("rounds run on the interval, one at a time, and a failing peer is logged once and skipped", async () => {
  const clock = createManualClock();
  const lines: string[] = [];
  const log = createLogger({ level: "info", format: "json", write: (l) => void lines.push(l) });
  const calls: string[] = [];
  const held = Promise.withResolvers<void>();
  let first = true;
  const s = startSyncSchedule({
    clock,
    everyMs: 30_000,
    targets: () => [
      { fingerprint: "a", name: "down", url: "http://a" },
      { fingerprint: "b", name: "up", url: "http://b" },
    ],
    async pull({ url = "" }) {
      calls.push(url);
      if (url === "http://a") throw new Error("connection refused");
      if (first) {
        first = false;
        await held.promise;
      }
      return { received: 3, refused: [], inSync: false };
    },
    log,
  });
  clock.advance(30_000);
  clock.advance(30_000); // due again while the first round waits on "up": not doubled
  await Bun.sleep(1);
  expect(calls).toEqual(["http://a", "http://b"]);
  held.resolve();
  await Bun.sleep(1);
  await s.runNow();
  s.stop();
  clock.advance(60_000);
  expect(calls).toEqual(["http://a", "http://b", "http://a", "http://b"]);
  const failures = lines.filter((l) => l.includes("chain sync with peer failed"));
  expect(failures).toHaveLength(1);
  expect(failures[0]).toContain("connection refused");
  expect(lines.filter((l) => l.includes("chain synced"))).toHaveLength(2);
});
