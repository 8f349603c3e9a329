import { expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore } from "../store/index.ts";
import { createAuditLog, createLoginLimiter } from "./index.ts";

test("login limiter: free attempts, then a doubling delay, reset on success", () => {
  let t = 0;
  const lim = createLoginLimiter({ now: () => t, freeAttempts: 2, baseDelayMs: 1000, maxDelayMs: 4000 });
  lim.failure("a");
  lim.failure("a");
  expect(lim.retryAfterMs("a")).toBe(0);
  lim.failure("a");
  expect(lim.retryAfterMs("a")).toBe(1000);
  t += 1000;
  lim.failure("a");
  expect(lim.retryAfterMs("a")).toBe(2000);
  t += 2000;
  lim.failure("a");
  lim.failure("a");
  expect(lim.retryAfterMs("a")).toBe(4000);
  expect(lim.retryAfterMs("b")).toBe(0);
  lim.success("a");
  expect(lim.retryAfterMs("a")).toBe(0);
});

test("login limiter forgets the oldest keys beyond its bound", () => {
  const lim = createLoginLimiter({ now: () => 0, freeAttempts: 0, maxKeys: 2 });
  for (const k of ["a", "b", "c"]) lim.failure(k);
  expect(lim.retryAfterMs("a")).toBe(0);
  expect(lim.retryAfterMs("c")).toBeGreaterThan(0);
});

test("audit log links entries by hash and names the first edited row", () => {
  const store = openStore({ path: join(mkdtempSync(join(tmpdir(), "kiana-audit-")), "k.db") });
  const audit = createAuditLog({ store });
  for (let i = 0; i < 5; i++) audit.append({ actor: "admin", action: "login", detail: `try ${i}` });
  expect(audit.verify()).toBeNull();
  expect(audit.recent(2).map((e) => e.detail)).toEqual(["try 4", "try 3"]);
  store.db.run("UPDATE audit_log SET detail = 'nothing happened' WHERE seq = 3");
  expect(audit.verify()).toEqual({ seq: 3, reason: "content does not match its hash" });
  store.close();
});
