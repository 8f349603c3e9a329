import { describe, expect, test } from "bun:test";
import { createManualClock } from "../platform/clock.ts";
import { createTimerKeeper, durationName, formatDuration, type TimerRang } from "./timers.ts";

describe("the timer keeper", () => {
  test("several named timers ring in order, each once, at their time", () => {
    const clock = createManualClock();
    const rang: [number, TimerRang][] = [];
    const start = clock.monotonic();
    const keeper = createTimerKeeper({ clock, onRing: (e) => rang.push([clock.monotonic() - start, e]) });
    keeper.start("pasta", 600_000);
    keeper.start("eggs", 240_000);
    expect(keeper.list().map((t) => t.name)).toEqual(["eggs", "pasta"]);
    clock.advance(239_999);
    expect(rang).toEqual([]);
    expect(keeper.get("eggs")?.remainingMs).toBe(1);
    clock.advance(1);
    expect(rang).toEqual([[240_000, { name: "eggs", durationMs: 240_000 }]]);
    clock.advance(3_600_000);
    expect(rang.map(([at, e]) => [at, e.name])).toEqual([
      [240_000, "eggs"],
      [600_000, "pasta"],
    ]);
    expect(keeper.list()).toEqual([]);
  });

  test("starting a name again restarts it; a cancelled timer never rings", () => {
    const clock = createManualClock();
    const rang: string[] = [];
    const keeper = createTimerKeeper({ clock, onRing: (e) => rang.push(`${e.name}:${e.durationMs}`) });
    keeper.start("tea", 60_000);
    clock.advance(50_000);
    keeper.start("tea", 30_000);
    clock.advance(20_000);
    expect(rang).toEqual([]);
    clock.advance(10_000);
    expect(rang).toEqual(["tea:30000"]);
    keeper.start("a", 5000);
    keeper.start("b", 5000);
    expect(keeper.cancel("a")).toBe(true);
    expect(keeper.cancel("a")).toBe(false);
    expect(keeper.cancelAll()).toBe(1);
    clock.advance(10_000);
    expect(rang).toEqual(["tea:30000"]);
  });

  test("durations outside one second to a day are refused", () => {
    const keeper = createTimerKeeper({ clock: createManualClock() });
    expect(() => keeper.start("x", 999)).toThrow(RangeError);
    expect(() => keeper.start("x", 24 * 3_600_000 + 1)).toThrow(RangeError);
    expect(() => keeper.start("x", Number.NaN)).toThrow(RangeError);
  });
});

test("durations are said the way people say them, rounded up to whole seconds", () => {
  expect(formatDuration(300_000)).toBe("5 minutes");
  expect(formatDuration(60_000)).toBe("1 minute");
  expect(formatDuration(250_000)).toBe("4 minutes and 10 seconds");
  expect(formatDuration(249_001)).toBe("4 minutes and 10 seconds");
  expect(formatDuration(5_430_000)).toBe("1 hour, 30 minutes and 30 seconds");
  expect(formatDuration(0)).toBe("0 seconds");
  expect(durationName(300_000)).toBe("5 minute");
  expect(durationName(90_000)).toBe("1 minute 30 second");
});
