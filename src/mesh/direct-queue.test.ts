import { afterEach, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { isKianaError } from "../errors.ts";
import type { Certificate } from "../identity/enrolment.ts";
import { enrolNode, type TestNode, tempDir, testFleet } from "../identity/test-fleet.test-helper.ts";
import { createManualClock } from "../platform/clock.ts";
import { createLogger } from "../platform/log.ts";
import { openStore, type Store } from "../store/index.ts";
import { createMemoryBus } from "./adapters/memory.ts";
import { createDirectMessaging, DIRECT_ACK_TYPE, type RetryPolicy } from "./direct-queue.ts";
import { DIRECT_TYPE } from "./e2e.ts";
import { decodeEnvelope, openEnvelope, sealEnvelope } from "./envelope.ts";
import type { MessageTransport } from "./ports.ts";
import { createMemoryReplayGuard, createSequenceCounter, type ReplayGuard } from "./replay-guard.ts";

const authority = testFleet("home");
const [alice, bob, carol] = ["alice", "bob", "carol"].map((n) => enrolNode(authority, n)) as [
  TestNode,
  TestNode,
  TestNode,
];
const roster = new Map<string, Certificate>([alice, bob, carol].map((n) => [n.fp, n.cert]));
const byName = new Map<string, Certificate>([alice, bob, carol].map((n) => [n.cert.name, n.cert]));
const SECRET = "the garage code is 8812-very-secret";
const text = (s: string) => new TextEncoder().encode(s);
const random = (n: number) => new Uint8Array(randomBytes(n));
// One turn of the event loop drains every microtask: memory-bus deliveries, handlers, acks.
const settle = async () => {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
};
const RETRY: RetryPolicy = { initialMs: 1_000, maxMs: 8_000, maxAgeMs: 3_600_000 };
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

interface Received {
  from: string;
  type: string;
  text: string;
  id: string;
}

function world() {
  const bus = createMemoryBus();
  const clock = createManualClock();
  const logLines: string[] = [];
  const log = createLogger({ format: "json", level: "debug", write: (l) => logLines.push(l) });

  function node(
    who: TestNode,
    o: { dir?: string; retry?: RetryPolicy; replay?: ReplayGuard; transport?: MessageTransport } = {},
  ) {
    const dir = o.dir ?? tempDir("kiana-direct-");
    const store: Store = openStore({ path: join(dir, "kiana.db"), now: clock.now });
    const seq = createSequenceCounter(store, { sender: who.fp, now: clock.now });
    const replay = o.replay ?? createMemoryReplayGuard();
    const received: Received[] = [];
    const refused: { from?: string; reason: string; detail: string }[] = [];
    const transport = o.transport ?? bus.connect();
    const messaging = createDirectMessaging({
      store,
      transport,
      fleet: "home",
      self: { node: who.cert.name, fingerprint: who.fp, keys: who.keys },
      seal: (type, body) => sealEnvelope({ keys: who.keys, seq: seq.next(), now: clock.now(), type, body }),
      open: (bytes) =>
        openEnvelope(bytes, {
          roster: (fp) => roster.get(fp),
          fleetPublicKey: authority.publicKey,
          fleetId: "home",
          now: clock.now(),
          replay,
        }),
      lookupPeer: (key) => byName.get(key) ?? roster.get(key),
      clock,
      random,
      log,
      retry: o.retry ?? RETRY,
      onRefused: (from, reason, detail) => refused.push({ from, reason, detail }),
    });
    messaging.onMessage((from, type, payload, id) => {
      received.push({ from: from.name, type, text: new TextDecoder().decode(payload), id });
    });
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await messaging.stop();
      await transport.close();
      store.close();
    };
    cleanup.push(close);
    return { messaging, store, received, refused, transport, dir, close };
  }

  // Direct messages travel under the sender's tree: kiana/v1/<fleet>/<from>/dm/<to>.
  const inboxOf = (name: string) => bus.log.filter((m) => m.topic.endsWith(`/dm/${name}`));
  const typesTo = (name: string) =>
    inboxOf(name).map((m) => {
      const d = decodeEnvelope(m.payload);
      return d.ok ? d.envelope.type : "?";
    });
  // Time passes in steps with the event loop turning between them, as it does between real timers.
  const pass = async (ms: number, step = 500) => {
    for (let t = 0; t < ms; t += step) {
      clock.advance(Math.min(step, ms - t));
      await settle();
    }
  };
  return { bus, clock, logLines, node, inboxOf, typesTo, pass };
}

describe("direct messages", () => {
  test("a message to an offline peer is retried and delivered once it comes online", async () => {
    const w = world();
    const a = w.node(alice);
    await a.messaging.start();
    const { id } = await a.messaging.send("bob", "chat", text("hello bob"));
    await settle();
    expect(w.inboxOf("bob")).toHaveLength(1); // published, but nobody listens
    expect(a.messaging.pending()).toMatchObject([{ id, to: "bob", attempts: 1 }]);

    w.clock.advance(1_000);
    await settle();
    expect(w.inboxOf("bob")).toHaveLength(2);

    const b = w.node(bob);
    await b.messaging.start();
    w.clock.advance(2_000);
    await settle();
    expect(b.received).toEqual([{ from: "alice", type: "chat", text: "hello bob", id }]);
    expect(a.messaging.pending()).toEqual([]);
    expect(a.messaging.stats()).toMatchObject({ sent: 1, acked: 1, dropped: 0 });
    // Acked: no more retries however long we wait.
    const published = w.inboxOf("bob").length;
    w.clock.advance(60_000);
    await settle();
    expect(w.inboxOf("bob")).toHaveLength(published);
    expect(w.typesTo("alice")).toEqual([DIRECT_ACK_TYPE]);
  });

  test("bob's ack removes the outbox row; an ack from anyone else does not", async () => {
    const w = world();
    const [a, b] = [w.node(alice), w.node(bob)];
    await a.messaging.start();
    const { id } = await a.messaging.send("bob", "chat", text("one"));
    const rows = () => a.store.db.query<{ n: number }, []>("SELECT count(*) AS n FROM mesh_outbox").get()?.n;
    expect(rows()).toBe(1); // durable before send() resolved
    // Carol, who somehow learnt the id, cannot cancel the message.
    const body = Buffer.from(id, "hex");
    const forged = sealEnvelope({
      keys: carol.keys,
      seq: 1,
      now: w.clock.now(),
      type: DIRECT_ACK_TYPE,
      body,
    });
    const other = w.bus.connect();
    await other.publish("kiana/v1/home/carol/dm/alice", forged);
    await settle();
    expect(rows()).toBe(1);
    await b.messaging.start();
    await w.pass(1_000);
    expect(b.received.map((r) => r.text)).toEqual(["one"]);
    expect(rows()).toBe(0);
    await other.close();
  });

  test("delivered exactly once despite duplicates; every duplicate is acked again", async () => {
    const w = world();
    // No replay guard on bob, so identical bytes reach the receipt table instead of being refused.
    const a = w.node(alice);
    const b = w.node(bob, { replay: { check: () => ({ ok: true }), accept() {} } });
    await Promise.all([a.messaging.start(), b.messaging.start()]);
    await a.messaging.send("bob", "chat", text("only once"));
    await settle();
    const original = w.inboxOf("bob")[0]?.payload;
    if (!original) throw new Error("nothing was published");
    const other = w.bus.connect();
    for (let i = 0; i < 3; i++) await other.publish("kiana/v1/home/alice/dm/bob", original);
    await settle();
    expect(b.received.map((r) => r.text)).toEqual(["only once"]);
    expect(w.typesTo("alice")).toEqual(Array(4).fill(DIRECT_ACK_TYPE));
    expect(b.messaging.stats()).toMatchObject({ delivered: 1, duplicates: 3 });
    await other.close();
  });

  test("a retry after a lost ack is acked but not redelivered", async () => {
    const w = world();
    // Alice's inbox subscription drops everything until `deaf` is cleared: the ack is lost.
    let deaf = true;
    const raw = w.bus.connect();
    const lossy: MessageTransport = {
      publish: (t, p, o) => raw.publish(t, p, o),
      subscribe: (pattern, handler) => raw.subscribe(pattern, (t, p) => deaf || handler(t, p)),
      close: () => raw.close(),
    };
    const a = w.node(alice, { transport: lossy });
    const b = w.node(bob);
    await Promise.all([a.messaging.start(), b.messaging.start()]);
    await a.messaging.send("bob", "chat", text("are you there"));
    await settle();
    expect(b.received).toHaveLength(1);
    expect(a.messaging.pending()).toHaveLength(1);
    deaf = false;
    w.clock.advance(1_000);
    await settle();
    expect(b.received).toHaveLength(1);
    expect(b.refused).toEqual([]);
    expect(a.messaging.pending()).toEqual([]);
  });

  test("the outbox survives a restart and the new instance delivers", async () => {
    const w = world();
    const a1 = w.node(alice);
    await a1.messaging.start();
    const { id } = await a1.messaging.send("bob", "chat", text("after the reboot"));
    await settle();
    await a1.close();

    const a2 = w.node(alice, { dir: a1.dir });
    expect(a2.messaging.pending()).toMatchObject([{ id, to: "bob", attempts: 1 }]);
    const b = w.node(bob);
    await b.messaging.start();
    await a2.messaging.start();
    await w.pass(1_000);
    expect(b.received).toMatchObject([{ id, text: "after the reboot" }]);
    expect(b.refused).toEqual([]);
    expect(a2.messaging.pending()).toEqual([]);
  });

  test("a handler that throws leaves the message unacked, so it is delivered again", async () => {
    const w = world();
    const [a, b] = [w.node(alice), w.node(bob)];
    let calls = 0;
    b.messaging.onMessage(() => {
      calls++;
      if (calls === 1) throw new Error("disk full");
    });
    await Promise.all([a.messaging.start(), b.messaging.start()]);
    await a.messaging.send("bob", "chat", text("try again"));
    await settle();
    expect(calls).toBe(1);
    expect(w.typesTo("alice")).toEqual([]);
    expect(a.messaging.pending()).toHaveLength(1);
    expect(w.logLines.some((l) => l.includes("disk full"))).toBe(true);

    w.clock.advance(1_000);
    await settle();
    expect(calls).toBe(2);
    expect(w.typesTo("alice")).toEqual([DIRECT_ACK_TYPE]);
    expect(a.messaging.pending()).toEqual([]);
  });

  test("neither the bus nor the outbox ever holds the plaintext", async () => {
    const w = world();
    const a = w.node(alice);
    await a.messaging.start();
    const secret = text(SECRET);
    await a.messaging.send("bob", "note", secret);
    await w.pass(10_000);
    const b = w.node(bob);
    await b.messaging.start();
    await w.pass(10_000);
    expect(b.received.map((r) => r.text)).toEqual([SECRET]);
    expect(w.bus.log.length).toBeGreaterThan(3);
    const row = a.store.db.query<{ sealed: Uint8Array }, []>("SELECT sealed FROM mesh_outbox").all();
    const haystacks = [...w.bus.log.map((m) => m.payload), ...row.map((r) => r.sealed)];
    for (const hay of haystacks)
      for (let i = 0; i + 6 <= secret.length; i++)
        expect(Buffer.from(hay).indexOf(Buffer.from(secret.subarray(i, i + 6)))).toBe(-1);
  });

  test("tampered, foreign and misaddressed envelopes are refused and nothing is delivered", async () => {
    const w = world();
    const [a, b] = [w.node(alice), w.node(bob)];
    await b.messaging.start();
    await a.messaging.send("carol", "chat", text("for carol only"));
    await a.messaging.start();
    await settle();
    const toCarol = w.inboxOf("carol")[0]?.payload;
    if (!toCarol) throw new Error("nothing was published");
    const other = w.bus.connect();
    // Validly signed by alice, but encrypted for carol.
    await other.publish("kiana/v1/home/carol/dm/bob", toCarol);
    // A flipped byte in the ciphertext breaks the signature.
    const tampered = Uint8Array.from(toCarol);
    tampered[60] = (tampered[60] ?? 0) ^ 1;
    await other.publish("kiana/v1/home/carol/dm/bob", tampered);
    // A device of another fleet that somehow has bob's certificate.
    const mallory = enrolNode(testFleet("home"), "mallory");
    const now = w.clock.now();
    const forged = sealEnvelope({ keys: mallory.keys, seq: 1, now, type: DIRECT_TYPE, body: random(80) });
    await other.publish("kiana/v1/home/carol/dm/bob", forged);
    await other.publish("kiana/v1/home/carol/dm/bob", text("not an envelope"));
    await settle();
    expect(b.refused.map((r) => r.reason)).toEqual([
      "not-for-me",
      "bad-signature",
      "unknown-sender",
      "malformed",
    ]);
    expect(b.refused[0]?.from).toBe(alice.fp);
    expect(b.received).toEqual([]);
    expect(w.typesTo("alice")).toEqual([]);
    await other.close();
  });

  test("backoff delays double up to the cap", async () => {
    const w = world();
    const a = w.node(alice);
    await a.messaging.start();
    await a.messaging.send("bob", "chat", text("anyone?"));
    await settle();
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      const [p] = a.messaging.pending();
      if (!p) throw new Error("the message vanished");
      delays.push(p.nextAt - w.clock.now());
      w.clock.advance(p.nextAt - w.clock.now());
      await settle();
    }
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 8_000, 8_000]);
    await settle();
    expect(w.inboxOf("bob")).toHaveLength(7);
    expect(a.messaging.pending()[0]?.attempts).toBe(7);
  });

  test("a message unacked past maxAgeMs is dropped, logged and counted", async () => {
    const w = world();
    const a = w.node(alice, { retry: { initialMs: 1_000, maxMs: 8_000, maxAgeMs: 20_000 } });
    await a.messaging.start();
    await a.messaging.send("bob", "chat", text("too late"));
    w.clock.advance(19_999);
    expect(a.messaging.pending()).toHaveLength(1);
    w.clock.advance(1);
    expect(a.messaging.pending()).toEqual([]);
    expect(a.messaging.stats().dropped).toBe(1);
    expect(w.logLines.some((l) => l.includes("expired unacknowledged"))).toBe(true);
    const b = w.node(bob);
    await b.messaging.start();
    w.clock.advance(60_000);
    await settle();
    expect(b.received).toEqual([]);
  });

  test("retryNow skips the backoff for one peer", async () => {
    const w = world();
    const a = w.node(alice);
    await a.messaging.start();
    await a.messaging.send("bob", "chat", text("ping"));
    await w.pass(7_000); // attempts at 0, 1 s, 3 s, 7 s; next at 15 s
    const b = w.node(bob);
    await b.messaging.start();
    a.messaging.retryNow("bob");
    await settle();
    expect(b.received.map((r) => r.text)).toEqual(["ping"]);
  });

  test("sending to an unknown peer throws a coded error and queues nothing", async () => {
    const w = world();
    const a = w.node(alice);
    let err: unknown;
    try {
      await a.messaging.send("dave", "chat", text("hi"));
    } catch (e) {
      err = e;
    }
    expect(isKianaError(err, "MESH_PEER_UNKNOWN")).toBe(true);
    expect(a.messaging.pending()).toEqual([]);
  });
});
