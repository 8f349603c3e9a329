import { afterEach, describe, expect, test } from "bun:test";
import type { Certificate } from "../identity/enrolment.ts";
import { enrolNode, type TestNode, testFleet } from "../identity/test-fleet.test-helper.ts";
import { createManualClock } from "../platform/clock.ts";
import { createLogger } from "../platform/log.ts";
import { createMemoryBus } from "./adapters/memory.ts";
import { openEnvelope, sealEnvelope } from "./envelope.ts";
import { createHeartbeat, encodeHeartbeat, HEARTBEAT_TYPE, parseHeartbeat } from "./heartbeat.ts";
import { createPeerTable, type PeerTable } from "./peers.ts";
import type { MessageTransport } from "./ports.ts";
import { createMemoryReplayGuard } from "./replay-guard.ts";

const authority = testFleet("home");
const [alice, bob] = ["alice", "bob"].map((n) => enrolNode(authority, n)) as [TestNode, TestNode];
const roster = new Map<string, Certificate>([alice, bob].map((n) => [n.fp, n.cert]));
const settle = async () => {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
};
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

function world() {
  const bus = createMemoryBus();
  const clock = createManualClock();
  const log = createLogger({ format: "json", write: () => {} });

  // Per device, across restarts, as the SQLite sequence counter would keep it.
  const seqs = new Map<string, number>();
  const nextSeq = (fp: string) => {
    seqs.set(fp, (seqs.get(fp) ?? 0) + 1);
    return seqs.get(fp) ?? 0;
  };

  function node(who: TestNode, transport: MessageTransport = bus.connect()) {
    const peers = createPeerTable({ clock });
    const refused: { from?: string; reason: string; detail: string }[] = [];
    const replay = createMemoryReplayGuard();
    const hb = createHeartbeat({
      transport,
      fleet: "home",
      self: { node: who.cert.name, fingerprint: who.fp },
      seal: (type, body) =>
        sealEnvelope({ keys: who.keys, seq: nextSeq(who.fp), now: clock.now(), type, body }),
      open: (bytes) =>
        openEnvelope(bytes, {
          roster: (fp) => roster.get(fp),
          fleetPublicKey: authority.publicKey,
          fleetId: "home",
          now: clock.now(),
          replay,
        }),
      peers,
      clock,
      info: () => ({ version: "0.3.0", adminPort: 8080, addresses: [`10.0.0.${who.cert.name.length}`] }),
      onRefused: (from, reason, detail) => refused.push({ from, reason, detail }),
      log,
    });
    cleanup.push(async () => {
      await hb.stop();
      peers.stop();
      await transport.close();
    });
    return { hb, peers, refused };
  }
  return { bus, clock, node };
}

const states = (peers: PeerTable) => peers.list().map((p) => `${p.name}:${p.state}`);

describe("heartbeats", () => {
  test("two nodes see each other, not themselves; a silent node fails and recovers", async () => {
    const w = world();
    const [a, b] = [w.node(alice), w.node(bob)];
    await a.hb.start();
    await b.hb.start();
    await settle();
    expect(states(a.peers)).toEqual(["bob:healthy"]);
    expect(states(b.peers)).toEqual([]); // alice's first beat was before bob listened
    w.clock.advance(10_000);
    await settle();
    expect(states(b.peers)).toEqual(["alice:healthy"]);
    expect(b.peers.get(alice.fp)).toMatchObject({
      version: "0.3.0",
      adminPort: 8080,
      addresses: ["10.0.0.5"],
    });
    expect(w.bus.log.map((m) => m.topic)).toEqual([
      "kiana/v1/home/alice/heartbeat",
      "kiana/v1/home/bob/heartbeat",
      "kiana/v1/home/alice/heartbeat",
      "kiana/v1/home/bob/heartbeat",
    ]);

    for (let i = 0; i < 6; i++) {
      w.clock.advance(10_000);
      await settle();
    }
    expect(states(a.peers)).toEqual(["bob:healthy"]);

    await b.hb.stop();
    w.clock.advance(25_000);
    await settle();
    expect(states(a.peers)).toEqual(["bob:degraded"]);
    w.clock.advance(30_000);
    expect(states(a.peers)).toEqual(["bob:failed"]);
    const published = w.bus.log.length;
    await b.hb.beat();
    expect(w.bus.log.length - published).toBe(0); // stopped: sends nothing
    const restarted = w.node(bob);
    await restarted.hb.start();
    await settle();
    expect(states(a.peers)).toEqual(["bob:healthy"]);
    expect(a.refused).toEqual([]);
  });

  test("a heartbeat from an unenrolled key is refused and adds no peer", async () => {
    const w = world();
    const a = w.node(alice);
    await a.hb.start();
    const stranger = enrolNode(testFleet("home"), "mallory");
    const other = w.bus.connect();
    const body = encodeHeartbeat({ version: "9.9.9", adminPort: 1, addresses: [], ts: w.clock.now() });
    const forged = sealEnvelope({
      keys: stranger.keys,
      seq: 1,
      now: w.clock.now(),
      type: HEARTBEAT_TYPE,
      body,
    });
    await other.publish("kiana/v1/home/mallory/heartbeat", forged);
    await settle();
    expect(a.refused).toMatchObject([{ from: stranger.fp, reason: "unknown-sender" }]);
    expect(a.peers.list()).toEqual([]);
    await other.close();
  });

  test("an enrolled node beating on another's topic, or with a bad body, is refused", async () => {
    const w = world();
    const a = w.node(alice);
    await a.hb.start();
    const other = w.bus.connect();
    const now = w.clock.now();
    const good = encodeHeartbeat({ version: "1", adminPort: 1, addresses: [], ts: now });
    const seal = (seq: number, body: Uint8Array) =>
      sealEnvelope({ keys: bob.keys, seq, now, type: HEARTBEAT_TYPE, body });
    await other.publish("kiana/v1/home/carol/heartbeat", seal(1, good));
    await other.publish("kiana/v1/home/bob/heartbeat", seal(2, new TextEncoder().encode('{"version":1}')));
    await settle();
    expect(a.refused.map((r) => r.reason)).toEqual(["malformed", "malformed"]);
    expect(a.peers.list()).toEqual([]);
    await other.close();
  });

  test("parseHeartbeat accepts the encoded form and refuses bad shapes", () => {
    const body = { version: "1.0.0", adminPort: 8080, addresses: ["10.0.0.2", "fe80::1"], ts: 5 };
    expect(parseHeartbeat(encodeHeartbeat(body))).toEqual(body);
    const bad = [
      "not json",
      "null",
      JSON.stringify({ ...body, adminPort: 70_000 }),
      JSON.stringify({ ...body, addresses: "10.0.0.2" }),
      JSON.stringify({ ...body, version: "x".repeat(65) }),
      JSON.stringify({ ...body, ts: -1 }),
    ];
    for (const text of bad) expect(parseHeartbeat(new TextEncoder().encode(text))).toBeUndefined();
  });
});
