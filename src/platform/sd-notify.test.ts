import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSdNotifier, type SdNotifier } from "./sd-notify.ts";
import { createUnixDgramReceiver, type UnixDgramReceiver } from "./unix-dgram-receiver.test-helper.ts";

// Teardown in reverse order of creation: notifiers before the sockets they point at.
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const fn of cleanups.splice(0).reverse()) fn();
});
function receiver(abstractName?: string): UnixDgramReceiver {
  const r = createUnixDgramReceiver(abstractName);
  cleanups.push(() => r.close());
  return r;
}
function notifier(opts: Parameters<typeof createSdNotifier>[0]): SdNotifier {
  const n = createSdNotifier(opts);
  cleanups.push(() => n.close());
  return n;
}
function recordingLog() {
  const warnings: { obj: object; msg: string }[] = [];
  return { warnings, warn: (obj: object, msg: string) => warnings.push({ obj, msg }) };
}

test("each call arrives as exactly one datagram in systemd's KEY=VALUE format", () => {
  const r = receiver();
  const n = notifier({ socketPath: r.path });
  expect(n.enabled).toBe(true);
  expect(n.ready("starting")).toBe(true);
  expect(n.status("loading model")).toBe(true);
  expect(n.watchdog()).toBe(true);
  expect(n.stopping()).toBe(true);
  expect(n.ready()).toBe(true);
  expect(r.drain()).toEqual([
    "READY=1\nSTATUS=starting\n",
    "STATUS=loading model\n",
    "WATCHDOG=1\n",
    "STOPPING=1\n",
    "READY=1\n",
  ]);
});

test("a newline in a value cannot smuggle in a second field", () => {
  const r = receiver();
  const n = notifier({ socketPath: r.path });
  expect(n.status("disk full\nSTOPPING=1")).toBe(true);
  expect(n.notify({ STATUS: "a\r\nb", "BAD\nKEY": "x" })).toBe(true);
  expect(r.drain()).toEqual(["STATUS=disk full STOPPING=1\n", "STATUS=a  b\nBADKEY=x\n"]);
});

test("an abstract-namespace socket (@name) is reached", () => {
  const r = receiver(`@kiana-test-${crypto.randomUUID()}`);
  const n = notifier({ socketPath: r.path });
  expect(n.ready("up")).toBe(true);
  expect(n.watchdog()).toBe(true);
  expect(r.drain()).toEqual(["READY=1\nSTATUS=up\n", "WATCHDOG=1\n"]);
});

test("NOTIFY_SOCKET is the default target, and without it every call is a no-op", () => {
  const saved = process.env.NOTIFY_SOCKET;
  cleanups.push(() => {
    if (saved === undefined) delete process.env.NOTIFY_SOCKET;
    else process.env.NOTIFY_SOCKET = saved;
  });

  delete process.env.NOTIFY_SOCKET;
  const off = notifier({});
  expect(off.enabled).toBe(false);
  expect([off.ready("x"), off.status("x"), off.watchdog(), off.stopping(), off.notify({ A: "1" })]).toEqual([
    false,
    false,
    false,
    false,
    false,
  ]);
  expect(() => off.close()).not.toThrow();
  // An explicit undefined means "no socket", even when the environment has one.
  const r = receiver();
  process.env.NOTIFY_SOCKET = r.path;
  expect(notifier({ socketPath: undefined }).enabled).toBe(false);

  expect(notifier({}).ready()).toBe(true);
  expect(r.drain()).toEqual(["READY=1\n"]);
});

test("a socket path that does not exist returns false, never throws, and warns only once", () => {
  const dir = mkdtempSync(join(tmpdir(), "kiana-notify-missing-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const log = recordingLog();
  const n = notifier({ socketPath: join(dir, "nobody-here.sock"), log });
  expect(n.enabled).toBe(true);
  for (let i = 0; i < 5; i++) expect(n.watchdog()).toBe(false);
  expect(n.ready("x")).toBe(false);
  expect(log.warnings).toHaveLength(1);
  expect(log.warnings[0]?.obj).toMatchObject({ err: "ENOENT", call: "sendto" });
});

test("a receiver that went away (ECONNREFUSED) fails softly, and recovery re-arms the warning", () => {
  const name = `@kiana-test-${crypto.randomUUID()}`;
  const log = recordingLog();
  const n = notifier({ socketPath: name, log });
  const first = createUnixDgramReceiver(name);
  expect(n.ready()).toBe(true);
  expect(first.drain()).toEqual(["READY=1\n"]);
  first.close();

  expect(n.watchdog()).toBe(false);
  expect(n.watchdog()).toBe(false);
  expect(log.warnings).toHaveLength(1);
  expect(log.warnings[0]?.obj).toMatchObject({ err: "ECONNREFUSED", call: "sendto" });

  // systemd came back (same name): delivery resumes on the socket we kept open.
  const second = receiver(name);
  expect(n.watchdog()).toBe(true);
  expect(second.drain()).toEqual(["WATCHDOG=1\n"]);
  second.close();
  expect(n.watchdog()).toBe(false);
  expect(log.warnings).toHaveLength(2);
});

test("an over-long path is reported, not thrown", () => {
  const log = recordingLog();
  const n = notifier({ socketPath: `/tmp/${"x".repeat(200)}`, log });
  expect(n.ready()).toBe(false);
  expect(n.watchdog()).toBe(false);
  expect(log.warnings).toHaveLength(1);
  expect(log.warnings[0]?.obj).toMatchObject({ err: expect.stringContaining("unix socket path") });
});

test("close() ends delivery; later calls return false instead of reopening a socket", () => {
  const r = receiver();
  const n = notifier({ socketPath: r.path });
  expect(n.watchdog()).toBe(true);
  n.close();
  expect(n.watchdog()).toBe(false);
  expect(() => n.close()).not.toThrow();
  expect(r.drain()).toEqual(["WATCHDOG=1\n"]);
});
