import { afterAll, beforeAll, expect, test } from "bun:test";
import { type MqttClient, connect as mqttConnect } from "mqtt";
import { isKianaError } from "../../errors.ts";
import { type Clock, systemClock } from "../../platform/clock.ts";
import { freeLoopbackPort, startTestBroker, type TestBroker } from "../broker/mosquitto.test-helper.ts";
import { transportContract } from "../transport-contract.test-helper.ts";
import { backoffDelay, createMqttTransport, type MqttTransport, type MqttTransportOptions } from "./mqtt.ts";

const HUB = { username: "hub", password: "hub-secret-1" };
const DEV_A = { username: "dev-a", password: "dev-a-secret", node: "node-a" };
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const bytes = (s: string) => new TextEncoder().encode(s);

async function until<T>(what: string, fn: () => T | undefined | false, ms: number): Promise<T> {
  const end = performance.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (performance.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await Bun.sleep(10);
  }
}

let contractBroker: TestBroker;
let lab: TestBroker;
const open: MqttTransport[] = [];
let clientSeq = 0;
function transport(broker: TestBroker, o: Partial<MqttTransportOptions> = {}): MqttTransport {
  const t = createMqttTransport({
    url: broker.url,
    ...HUB,
    fleet: "lab",
    node: `n${++clientSeq}`,
    clientId: `test-${clientSeq}`,
    presence: false,
    backoff: { initialMs: 20, maxMs: 200 },
    ...o,
  });
  open.push(t);
  return t;
}

beforeAll(async () => {
  contractBroker = await startTestBroker({ fleet: "f", hubs: [HUB] });
  lab = await startTestBroker({ fleet: "lab", hubs: [HUB], devices: [DEV_A] });
});
afterAll(async () => {
  for (const t of open.splice(0)) await t.close().catch(() => {});
  await contractBroker?.stop();
  await lab?.stop();
});

transportContract("mqtt", async () => {
  const t = transport(contractBroker, { fleet: "f" });
  await t.ready();
  return t;
});

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = Math.imul(s ^ (s >>> 15), 1 | s);
    x ^= x + Math.imul(x ^ (x >>> 7), 61 | x);
    return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32;
  };
}

test("backoffDelay: doubles up to the cap, full jitter stays in range, a seed gives the same delays", () => {
  const b = { initialMs: 100, maxMs: 1000 };
  const top = () => 1 - 1e-12;
  expect([0, 1, 2, 3, 4, 5, 30, 5000].map((n) => backoffDelay(n, b, top))).toEqual([
    99, 199, 399, 799, 999, 999, 999, 999,
  ]);
  expect(backoffDelay(3, b, () => 0)).toBe(0);
  const r = seeded(42);
  for (let n = 0; n < 200; n++) {
    const d = backoffDelay(n % 12, b, r);
    expect(d).toBeGreaterThanOrEqual(0);
    expect(d).toBeLessThan(Math.min(1000, 100 * 2 ** (n % 12)));
  }
  const run = (seed: number) => Array.from({ length: 8 }, (_, n) => backoffDelay(n, b, seeded(seed)));
  expect(run(7)).toEqual(run(7));
  expect(run(7)).not.toEqual(run(8));
  expect(() => backoffDelay(-1, b, Math.random)).toThrow(RangeError);
  expect(() => backoffDelay(0, { initialMs: 500, maxMs: 100 }, Math.random)).toThrow(RangeError);
});

test("presence: retained online after connect; the last will says offline when the socket dies", async () => {
  let raw: MqttClient | undefined;
  const node = transport(lab, {
    ...DEV_A,
    clientId: "dev-a-will",
    presence: true,
    random: () => 0.99,
    backoff: { initialMs: 60_000, maxMs: 60_000 }, // no reconnect during this test
    mqttConnect: (o) => {
      raw = mqttConnect(o);
      return raw;
    },
  });
  const watcher = transport(lab);
  const seen: { node: string; state: string; reason?: string }[] = [];
  await watcher.ready();
  await watcher.subscribe("kiana/v1/lab/node-a/presence", (_t, p) => seen.push(JSON.parse(text(p))));
  await node.ready();
  await until("online presence", () => seen.at(-1)?.state === "online", 3000);
  expect(seen.at(-1)?.node).toBe("node-a");

  raw?.stream.destroy(); // the process "dies": no DISCONNECT packet reaches the broker
  await until("offline presence", () => seen.at(-1)?.state === "offline", 3000);
  expect(seen.at(-1)).toMatchObject({ node: "node-a", state: "offline", reason: "lost" });
  expect(node.state()).toBe("offline");

  const late = transport(lab);
  await late.ready();
  const retained: string[] = [];
  await late.subscribe("kiana/v1/lab/+/presence", (_t, p) => retained.push(JSON.parse(text(p)).reason));
  await until("retained presence", () => retained.length > 0, 2000);
  expect(retained).toEqual(["lost"]);
}, 10_000);

test("presence: a clean close publishes offline itself (the will does not fire on DISCONNECT)", async () => {
  const node = transport(lab, { ...DEV_A, clientId: "dev-a-clean", presence: true });
  const watcher = transport(lab);
  const seen: { state: string; reason?: string }[] = [];
  await watcher.ready();
  await watcher.subscribe("kiana/v1/lab/node-a/presence", (_t, p) => seen.push(JSON.parse(text(p))));
  await node.ready();
  await until("online presence", () => seen.at(-1)?.state === "online", 3000);
  await node.close();
  await until("offline presence", () => seen.at(-1)?.state === "offline", 3000);
  expect(seen.at(-1)?.reason).toBe("closed");
  expect(node.state()).toBe("offline");
  await expect(node.publish("kiana/v1/lab/node-a/x", bytes("late"))).rejects.toMatchObject({
    code: "MESH_TRANSPORT_CLOSED",
  });
}, 10_000);

test("ACL refusal surfaces as an error: a device publishing under another node's topic", async () => {
  const node = transport(lab, { ...DEV_A, clientId: "dev-a-acl" });
  await node.ready();
  const denied = await node.publish("kiana/v1/lab/node-b/cmd", bytes("forged")).catch((e: unknown) => e);
  expect(isKianaError(denied, "MESH_PUBLISH_DENIED")).toBe(true);
  await node.publish("kiana/v1/lab/node-a/status", bytes("mine")); // its own tree: allowed
}, 10_000);

test("overlapping subscriptions: each handler gets a message once", async () => {
  const [a, b] = [transport(lab), transport(lab)];
  await Promise.all([a.ready(), b.ready()]);
  const wide: string[] = [];
  const narrow: string[] = [];
  await b.subscribe("kiana/v1/lab/+/x", (_t, p) => wide.push(text(p)));
  await b.subscribe("kiana/v1/lab/n9/+", (_t, p) => narrow.push(text(p)));
  await a.publish("kiana/v1/lab/n9/x", bytes("1"));
  await a.publish("kiana/v1/lab/n8/x", bytes("2"));
  await until("both messages", () => wide.length >= 2, 3000);
  await Bun.sleep(100);
  expect(wide).toEqual(["1", "2"]);
  expect(narrow).toEqual(["1"]);
}, 10_000);

test("no broker at all: the transport stays offline, retries, and still closes cleanly", async () => {
  const states: string[] = [];
  const t = createMqttTransport({
    url: `mqtt://127.0.0.1:${freeLoopbackPort()}`,
    ...HUB,
    fleet: "lab",
    node: "lonely",
    backoff: { initialMs: 10, maxMs: 40 },
  });
  t.onState((s) => states.push(s));
  await until("a few failed attempts", () => states.filter((s) => s === "offline").length >= 3, 3000);
  const ready = t.ready().catch((e: unknown) => e);
  await t.close();
  expect(isKianaError(await ready, "MESH_TRANSPORT_CLOSED")).toBe(true);
  expect(t.state()).toBe("offline");
  const bad = { ...HUB, fleet: "lab", node: "x", url: "http://127.0.0.1:1883" };
  expect(() => createMqttTransport(bad)).toThrow(/must look like mqtt:\/\/host:1883/);
}, 10_000);

test("broker restarted on the same port: reconnects with growing delays and subscriptions work again", async () => {
  const broker = await startTestBroker({ fleet: "lab", hubs: [HUB] });
  try {
    const delays: number[] = [];
    const clock: Clock = {
      ...systemClock,
      setTimeout(fn, ms) {
        delays.push(ms);
        return systemClock.setTimeout(fn, ms);
      },
    };
    const backoff = { initialMs: 40, maxMs: 640 };
    const sub = transport(broker, { clock, random: () => 0.99, backoff });
    const pub = transport(broker);
    const states: { state: string; at: number }[] = [];
    sub.onState((state) => states.push({ state, at: performance.now() }));
    await Promise.all([sub.ready(), pub.ready()]);
    const got: string[] = [];
    await sub.subscribe("kiana/v1/lab/+/news", (_t, p) => got.push(text(p)));

    await broker.process.stop();
    await until("six scheduled reconnects", () => delays.length >= 6, 5000);
    await broker.process.restart();
    await until("both clients back online", () => sub.state() === "online" && pub.state() === "online", 5000);

    const expected = [0, 1, 2, 3, 4, 5].map((n) => backoffDelay(n, backoff, () => 0.99));
    expect(delays.slice(0, 6)).toEqual(expected); // 39, 79, 158, 316, 633, 633: doubling, then capped
    // What a user sees: each offline spell lasts at least its delay, and they grow.
    const gaps: number[] = [];
    for (let i = 1; i < states.length; i++) {
      const [prev, cur] = [states[i - 1], states[i]];
      if (prev?.state === "offline" && cur?.state === "connecting") gaps.push(cur.at - prev.at);
    }
    expect(gaps.length).toBeGreaterThanOrEqual(5);
    for (let i = 0; i < 5; i++) expect(gaps[i] ?? 0).toBeGreaterThanOrEqual((expected[i] ?? 0) - 5);
    expect(gaps[4] ?? 0).toBeGreaterThan((gaps[0] ?? 0) * 4);

    // The re-subscription races the first publish, so publish until one arrives (bounded).
    for (let i = 0; i < 50 && got.length === 0; i++) {
      await pub.publish("kiana/v1/lab/n1/news", bytes(`after-${i}`));
      await Bun.sleep(20);
    }
    expect(got[0]).toStartWith("after-");
  } finally {
    await broker.stop();
  }
}, 15_000);
