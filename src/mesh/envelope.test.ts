import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { isKianaError } from "../errors.ts";
import type { Certificate } from "../identity/enrolment.ts";
import { enrolNode, seededRandom, T0, tempDir, testFleet } from "../identity/test-fleet.test-helper.ts";
import { openStore } from "../store/index.ts";
import { DEFAULT_MAX_BODY_BYTES, type OpenOptions, openEnvelope, sealEnvelope } from "./envelope.ts";
import { createMemoryReplayGuard, createSqliteReplayGuard } from "./replay-guard.ts";

const fleet = testFleet("home");
const alice = enrolNode(fleet, "alice");
const stale = enrolNode(fleet, "stale", { validDays: 1 });
const early = enrolNode(fleet, "early", { now: T0 + 10 * 86_400_000 });
const office = testFleet("office");
const outsider = enrolNode(office, "outsider");
const roster = new Map<string, Certificate>(
  [alice, stale, early, outsider].map((n) => [n.fp, n.cert] as [string, Certificate]),
);
const NOW = T0 + 2 * 86_400_000;
const body = new TextEncoder().encode("lights on in the kitchen");

function openOpts(over: Partial<OpenOptions> = {}): OpenOptions {
  return {
    roster: (fp) => roster.get(fp),
    fleetPublicKey: fleet.publicKey,
    fleetId: "home",
    now: NOW,
    replay: createMemoryReplayGuard(),
    ...over,
  };
}
const seal = (seq = 1, over: Partial<Parameters<typeof sealEnvelope>[0]> = {}) =>
  sealEnvelope({ keys: alice.keys, seq, now: NOW, type: "chat", body, ...over });
const reasonOf = (r: ReturnType<typeof openEnvelope>) => (r.ok ? "ok" : r.reason);

describe("envelope", () => {
  test("round trip: the receiver gets the message and the sender's certificate", () => {
    const r = openEnvelope(seal(7), openOpts());
    if (!r.ok) throw new Error(r.detail);
    expect(r.envelope).toMatchObject({ v: 1, from: alice.fp, seq: 7, ts: NOW, type: "chat" });
    expect(new TextDecoder().decode(r.envelope.body)).toBe("lights on in the kitchen");
    expect(r.sender.name).toBe("alice");
  });

  test("flipping any byte is refused, with the reason of the region it hit", () => {
    const good = seal(1);
    const typeAt = 34;
    const bodyLenAt = typeAt + 4;
    const bodyAt = bodyLenAt + 4;
    const sigAt = good.length - 64;
    const opts = openOpts();
    for (let i = 0; i < good.length; i++) {
      const bad = Uint8Array.from(good);
      bad[i] = (bad[i] ?? 0) ^ 0x01;
      const r = openEnvelope(bad, opts);
      const reason = reasonOf(r);
      if (i === 0 || i === 33 || (i >= bodyLenAt && i < bodyAt)) expect(reason).toBe("malformed");
      else if (i < 17) expect(reason).toBe("unknown-sender");
      else if (i < typeAt)
        expect(["bad-signature", "malformed"]).toContain(reason); // seq/ts
      else if (i < bodyLenAt)
        expect(["bad-signature", "malformed"]).toContain(reason); // type text
      else expect(reason).toBe("bad-signature");
      if (i >= bodyAt && i < sigAt) expect(r.ok ? "" : r.from).toBe(alice.fp);
    }
    // None of the refusals touched the replay marks: the genuine message still opens.
    expect(reasonOf(openEnvelope(good, opts))).toBe("ok");
  });

  test("replays: the same message twice, a lower seq, and after a restart with the SQLite guard", () => {
    const path = join(tempDir(), "kiana.db");
    let store = openStore({ path });
    let opts = openOpts({ replay: createSqliteReplayGuard({ store }) });
    expect(reasonOf(openEnvelope(seal(10), opts))).toBe("ok");
    expect(reasonOf(openEnvelope(seal(10), opts))).toBe("replay");
    expect(reasonOf(openEnvelope(seal(9), opts))).toBe("replay");
    expect(reasonOf(openEnvelope(seal(11), opts))).toBe("ok");
    store.close();
    store = openStore({ path });
    opts = openOpts({ replay: createSqliteReplayGuard({ store }) });
    expect(reasonOf(openEnvelope(seal(11), opts))).toBe("replay");
    expect(reasonOf(openEnvelope(seal(12), opts))).toBe("ok");
    store.close();
  });

  test("clock skew beyond the window is refused, within it accepted", () => {
    const opts = openOpts();
    expect(reasonOf(openEnvelope(seal(1, { now: NOW + 6 * 60_000 }), opts))).toBe("clock-skew");
    expect(reasonOf(openEnvelope(seal(2, { now: NOW - 6 * 60_000 }), opts))).toBe("clock-skew");
    expect(reasonOf(openEnvelope(seal(3, { now: NOW - 4 * 60_000 }), opts))).toBe("ok");
    expect(reasonOf(openEnvelope(seal(4, { now: NOW - 2 * 60_000 }), { ...opts, maxSkewMs: 60_000 }))).toBe(
      "clock-skew",
    );
  });

  test("only enrolled, valid, unrevoked senders of this fleet", () => {
    const stranger = enrolNode(fleet, "stranger"); // enrolled certificate, but not on the roster
    const from = (n: typeof alice, seq = 1) =>
      sealEnvelope({ keys: n.keys, seq, now: NOW, type: "chat", body });
    expect(reasonOf(openEnvelope(from(stranger), openOpts()))).toBe("unknown-sender");
    expect(reasonOf(openEnvelope(from(stale), openOpts()))).toBe("sender-expired");
    expect(reasonOf(openEnvelope(from(early), openOpts()))).toBe("sender-expired");
    const revoked = new Set([alice.fp]);
    expect(reasonOf(openEnvelope(from(alice), openOpts({ revoked })))).toBe("sender-revoked");
    expect(reasonOf(openEnvelope(from(outsider), openOpts()))).toBe("unknown-sender");
    // A roster that hands back someone else's certificate, or throws, is no enrolment.
    expect(reasonOf(openEnvelope(from(alice), openOpts({ roster: () => stale.cert })))).toBe(
      "unknown-sender",
    );
    const throwing = () => {
      throw new Error("db gone");
    };
    expect(reasonOf(openEnvelope(from(alice), openOpts({ roster: throwing })))).toBe("unknown-sender");
    // Someone holding a real certificate cannot sign as alice.
    const forged = sealEnvelope({
      keys: stranger.keys,
      from: alice.fp,
      seq: 1,
      now: NOW,
      type: "chat",
      body,
    });
    expect(reasonOf(openEnvelope(forged, openOpts()))).toBe("bad-signature");
  });

  test("malformed input never throws: every truncation, trailing bytes, garbage, oversize, non-bytes", () => {
    const good = seal(1);
    const opts = openOpts();
    for (let len = 0; len < good.length; len++)
      expect(reasonOf(openEnvelope(good.subarray(0, len), opts))).toBe("malformed");
    const longer = new Uint8Array(good.length + 1);
    longer.set(good);
    expect(reasonOf(openEnvelope(longer, opts))).toBe("malformed");
    const random = seededRandom(7);
    for (let i = 0; i < 2000; i++) {
      const garbage = random((i % 300) + 1);
      if (i % 2) garbage[0] = 1; // get past the version byte half the time
      expect(openEnvelope(garbage, opts).ok).toBe(false);
    }
    for (const junk of [undefined, null, "hello", 42, {}, [1, 2, 3]])
      expect(reasonOf(openEnvelope(junk, opts))).toBe("malformed");
    const big = sealEnvelope({
      keys: alice.keys,
      seq: 2,
      now: NOW,
      type: "chat",
      body: new Uint8Array(2048),
    });
    const r = openEnvelope(big, { ...opts, maxBodyBytes: 1024 });
    expect(r.ok ? "ok" : `${r.reason} ${r.detail}`).toBe(
      "malformed body of 2048 bytes is over the limit of 1024",
    );
    expect(reasonOf(openEnvelope(big, opts))).toBe("ok");
  });

  test("sealing refuses what no receiver would accept", () => {
    const bad: Partial<Parameters<typeof sealEnvelope>[0]>[] = [
      { type: "Chat" },
      { type: "" },
      { type: "x".repeat(33) },
      { seq: -1 },
      { seq: 1.5 },
      { from: "alice" },
      { body: new Uint8Array(DEFAULT_MAX_BODY_BYTES + 1) },
    ];
    for (const over of bad) {
      let err: unknown;
      try {
        seal(1, over);
      } catch (e) {
        err = e;
      }
      expect(isKianaError(err, "MESH_ENVELOPE_INVALID")).toBe(true);
    }
  });
});
