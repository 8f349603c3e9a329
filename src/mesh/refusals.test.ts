import { describe, expect, test } from "bun:test";
import type { Certificate } from "../identity/enrolment.ts";
import { enrolNode, T0, testFleet } from "../identity/test-fleet.test-helper.ts";
import { createAuditLog } from "../security/index.ts";
import { openStore } from "../store/index.ts";
import { openEnvelope, sealEnvelope } from "./envelope.ts";
import { createRefusalLog, REFUSAL_REASONS } from "./refusals.ts";
import { createMemoryReplayGuard } from "./replay-guard.ts";

const A = "a".repeat(32);
const B = "b".repeat(32);

function setup(opts: { maxPairs?: number; repeatAfterMs?: number; auditBudget?: number } = {}) {
  let t = T0;
  const clock = { now: () => t, advance: (ms: number) => (t += ms) };
  const audit = createAuditLog({ store: openStore({ path: ":memory:" }), now: clock.now });
  const log = createRefusalLog({ audit, now: clock.now, ...opts });
  const count = (reason: string) => log.counts().find((c) => c.reason === reason)?.count;
  return { audit, log, clock, count };
}

describe("refusal log", () => {
  test("counts every refusal, audits once per sender and reason", () => {
    const { audit, log, count } = setup();
    expect(log.counts().map((c) => c.reason)).toEqual(REFUSAL_REASONS);
    expect(log.counts().every((c) => c.count === 0)).toBe(true);
    for (let i = 0; i < 50; i++) log.refuse(A, "replay", `seq ${i} is not above 99`);
    expect(count("replay")).toBe(50);
    expect(audit.recent(100)).toHaveLength(1);
    log.refuse(A, "bad-signature", "x");
    log.refuse(B, "replay", "y");
    log.refuse(undefined, "malformed", "too short");
    log.refuse(undefined, "malformed", "garbage");
    const events = audit.recent(100).reverse();
    expect(events.map((e) => [e.actor, e.action])).toEqual([
      [`mesh:${A}`, "mesh.refused.replay"],
      [`mesh:${A}`, "mesh.refused.bad-signature"],
      [`mesh:${B}`, "mesh.refused.replay"],
      ["mesh:unknown", "mesh.refused.malformed"],
    ]);
    expect(events[0]?.detail).toBe("seq 0 is not above 99");
    expect(count("replay")).toBe(51);
    expect(count("malformed")).toBe(2);
    expect(audit.verify()).toBeNull();
  });

  test("an ongoing problem is written again after the repeat interval, with the count since", () => {
    const { audit, log, clock } = setup({ repeatAfterMs: 60_000 });
    log.refuse(A, "clock-skew", "10 min ahead");
    for (let i = 0; i < 4; i++) log.refuse(A, "clock-skew", "10 min ahead");
    clock.advance(59_999);
    log.refuse(A, "clock-skew", "10 min ahead");
    expect(audit.recent(10)).toHaveLength(1);
    clock.advance(1);
    log.refuse(A, "clock-skew", "10 min ahead");
    const [latest] = audit.recent(10);
    expect(latest?.detail).toBe("10 min ahead (5 more since the last entry)");
  });

  test("memory is bounded: beyond maxPairs the oldest pair is forgotten", () => {
    const { audit, log } = setup({ maxPairs: 2 });
    log.refuse("1".repeat(32), "replay", "");
    log.refuse("2".repeat(32), "replay", "");
    log.refuse("2".repeat(32), "replay", "");
    expect(audit.recent(10)).toHaveLength(2);
    log.refuse("3".repeat(32), "replay", "");
    log.refuse("1".repeat(32), "replay", ""); // forgotten, so written again
    log.refuse("3".repeat(32), "replay", "");
    expect(audit.recent(10)).toHaveLength(4);
  });

  test("invented sender fingerprints cannot flood the audit log: a budget per window", () => {
    const { audit, log, clock, count } = setup({ auditBudget: 3 });
    const fake = (i: number) => i.toString(16).padStart(32, "0");
    for (let i = 0; i < 100; i++) log.refuse(fake(i), "unknown-sender", "no enrolled certificate");
    expect(count("unknown-sender")).toBe(100);
    const actions = audit.recent(10).map((e) => e.action);
    expect(actions).toEqual([
      "mesh.refused.suppressed",
      "mesh.refused.unknown-sender",
      "mesh.refused.unknown-sender",
      "mesh.refused.unknown-sender",
    ]);
    clock.advance(3_600_000);
    log.refuse(fake(50), "unknown-sender", "no enrolled certificate");
    expect(audit.recent(10)).toHaveLength(5);
  });

  test("a failing audit log loses no count and is retried on the next refusal", () => {
    let fail = true;
    const written: string[] = [];
    const errors: unknown[] = [];
    const log = createRefusalLog({
      audit: {
        append(e) {
          if (fail) throw new Error("disk full");
          written.push(e.action);
          return { seq: 1, at: 0, actor: e.actor, action: e.action, detail: "", hash: "" };
        },
      },
      now: () => 0,
      onAuditError: (err) => errors.push(err),
    });
    log.refuse(A, "replay", "");
    fail = false;
    log.refuse(A, "replay", "");
    log.refuse(A, "replay", "");
    expect(errors).toHaveLength(1);
    expect(written).toEqual(["mesh.refused.replay"]);
    expect(log.counts().find((c) => c.reason === "replay")?.count).toBe(3);
  });

  test("fed by openEnvelope: a flood of replays is one audit entry", () => {
    const fleet = testFleet("home");
    const alice = enrolNode(fleet, "alice");
    const roster = new Map<string, Certificate>([[alice.fp, alice.cert]]);
    const { audit, log, count } = setup();
    const replay = createMemoryReplayGuard();
    const msg = sealEnvelope({ keys: alice.keys, seq: 1, now: T0, type: "chat", body: new Uint8Array(1) });
    const opts = { roster: (fp: string) => roster.get(fp), fleetPublicKey: fleet.publicKey, now: T0, replay };
    for (let i = 0; i < 20; i++) {
      const r = openEnvelope(msg, opts);
      if (!r.ok) log.refuse(r.from, r.reason, r.detail);
    }
    expect(count("replay")).toBe(19);
    expect(audit.recent(10).map((e) => e.actor)).toEqual([`mesh:${alice.fp}`]);
  });
});
