import { afterEach, expect, test } from "bun:test";
import { createManualClock, systemClock } from "./clock.ts";
import { createSdNotifier } from "./sd-notify.ts";
import { createUnixDgramReceiver } from "./unix-dgram-receiver.test-helper.ts";
import { startWatchdog, watchdogIntervalMs } from "./watchdog.ts";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const fn of cleanups.splice(0).reverse()) fn();
});

function recordingNotifier() {
  const n = { enabled: true, pings: 0, watchdog: () => ++n.pings > 0 };
  return n;
}
function start(opts: Parameters<typeof startWatchdog>[0]) {
  const w = startWatchdog(opts);
  cleanups.push(() => w.stop());
  return w;
}

test("WATCHDOG_USEC=2000000 pings every 1000 ms, and stop() ends it", () => {
  const clock = createManualClock();
  const notifier = recordingNotifier();
  const w = start({ notifier, clock, env: { WATCHDOG_USEC: "2000000" } });
  expect(w.intervalMs).toBe(1000);
  clock.advance(999);
  expect(notifier.pings).toBe(0);
  clock.advance(1);
  expect(notifier.pings).toBe(1);
  clock.advance(3000);
  expect(notifier.pings).toBe(4);
  w.stop();
  clock.advance(10_000);
  expect(notifier.pings).toBe(4);
});

test("an unhealthy process withholds pings so systemd restarts it, and resumes when healthy", () => {
  const clock = createManualClock();
  const notifier = recordingNotifier();
  let healthy = true;
  start({ notifier, clock, env: { WATCHDOG_USEC: "2000000" }, healthy: () => healthy });
  clock.advance(1000);
  expect(notifier.pings).toBe(1);
  healthy = false;
  clock.advance(5000);
  expect(notifier.pings).toBe(1);
  healthy = true;
  clock.advance(1000);
  expect(notifier.pings).toBe(2);
});

test("a health check that throws counts as unhealthy", () => {
  const clock = createManualClock();
  const notifier = recordingNotifier();
  const healthy = () => {
    throw new Error("store wedged");
  };
  start({ notifier, clock, env: { WATCHDOG_USEC: "2000000" }, healthy });
  clock.advance(3000);
  expect(notifier.pings).toBe(0);
});

test("WATCHDOG_PID of another process disables the watchdog; our own pid keeps it", () => {
  const clock = createManualClock();
  const notifier = recordingNotifier();
  const other = start({ notifier, clock, env: { WATCHDOG_USEC: "2000000", WATCHDOG_PID: "1" } });
  expect(other.intervalMs).toBeNull();
  clock.advance(5000);
  expect(notifier.pings).toBe(0);

  const own = start({
    notifier,
    clock,
    env: { WATCHDOG_USEC: "2000000", WATCHDOG_PID: String(process.pid) },
  });
  expect(own.intervalMs).toBe(1000);
  clock.advance(1000);
  expect(notifier.pings).toBe(1);
});

test("missing or garbage WATCHDOG_USEC means no watchdog and no timer", () => {
  for (const usec of [undefined, "", "abc", "-2000000", "0", "1.5e6", "2000000us", "99999999999999999999"]) {
    const clock = createManualClock();
    const notifier = recordingNotifier();
    const w = start({ notifier, clock, env: { WATCHDOG_USEC: usec } });
    expect(w.intervalMs).toBeNull();
    clock.advance(60_000);
    expect(notifier.pings).toBe(0);
  }
  expect(watchdogIntervalMs({ WATCHDOG_USEC: "1" }, 42)).toBe(1);
});

test("a disabled notifier (no NOTIFY_SOCKET) gets no timer", () => {
  const clock = createManualClock();
  const notifier = { ...recordingNotifier(), enabled: false };
  const w = start({ notifier, clock, env: { WATCHDOG_USEC: "2000000" } });
  expect(w.intervalMs).toBeNull();
  clock.advance(5000);
  expect(notifier.pings).toBe(0);
});

test("end to end: real timers ping a real unix socket every WATCHDOG_USEC/2", async () => {
  const r = createUnixDgramReceiver();
  cleanups.push(() => r.close());
  const notifier = createSdNotifier({ socketPath: r.path });
  cleanups.push(() => notifier.close());
  const started = performance.now();
  const w = start({ notifier, clock: systemClock, env: { WATCHDOG_USEC: "200000" } });
  expect(w.intervalMs).toBe(100);

  const got = await r.waitFor(3, 3000);
  const elapsed = performance.now() - started;
  expect(got.slice(0, 3)).toEqual(["WATCHDOG=1\n", "WATCHDOG=1\n", "WATCHDOG=1\n"]);
  // Three pings cannot come sooner than three periods; the bounded wait above catches a stuck timer.
  expect(elapsed).toBeGreaterThanOrEqual(290);
  w.stop();
});
