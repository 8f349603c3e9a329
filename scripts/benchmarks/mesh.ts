// Benchmark: mesh messaging through a real mosquitto on loopback, in one run.
//   1. signed envelopes (seal + open, replay-guarded) against raw mqtt.js publishing the same payloads
//   2. fan-out of 256-byte messages to 50 subscribers
// Usage: scripts/bench mesh [--messages 3000] [--subscribers 50]
import { parseArgs } from "node:util";
import { enrolNode, testFleet } from "../../src/identity/test-fleet.test-helper.ts";
import { createMqttTransport, type MqttTransport } from "../../src/mesh/adapters/mqtt.ts";
import { startTestBroker } from "../../src/mesh/broker/mosquitto.test-helper.ts";
import { openEnvelope, sealEnvelope } from "../../src/mesh/envelope.ts";
import { createMemoryReplayGuard } from "../../src/mesh/replay-guard.ts";
import { createLogger } from "../../src/platform/log.ts";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: { messages: { type: "string", default: "3000" }, subscribers: { type: "string", default: "50" } },
});
const N = Math.min(Math.max(Number(values.messages), 100), 100_000);
const SUBS = Math.min(Math.max(Number(values.subscribers), 1), 200);
const PAYLOAD = 256;
const log = createLogger({ level: "error", write: () => {} });

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}

async function waitUntil(ok: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}

const authority = testFleet("bench", Date.now());
const a = enrolNode(authority, "sender", { now: Date.now() });
const broker = await startTestBroker({
  fleet: "bench",
  hubs: [
    { username: "sender", password: "s" },
    { username: "receiver", password: "r" },
    ...Array.from({ length: SUBS }, (_, i) => ({ username: `sub${i}`, password: "x" })),
  ],
});
const clients: MqttTransport[] = [];
const connect = async (node: string, password: string) => {
  const c = createMqttTransport({
    url: broker.url,
    username: node,
    password,
    fleet: "bench",
    node,
    log,
    presence: false,
  });
  clients.push(c);
  await c.ready();
  return c;
};

try {
  const sender = await connect("sender", "s");
  const receiver = await connect("receiver", "r");
  const body = new Uint8Array(PAYLOAD - 8);

  /** Sends N messages, each stamped with its send time, and measures delivery. */
  async function run(
    label: string,
    encode: (i: number) => Uint8Array,
    decode: (p: Uint8Array) => number | null,
  ) {
    const topic = `kiana/v1/bench/sender/${label}`;
    const lat: number[] = [];
    let refused = 0;
    const off = await receiver.subscribe(topic, (_t, p) => {
      const sentAt = decode(p);
      if (sentAt === null) refused++;
      else lat.push(performance.now() - sentAt);
    });
    const t0 = performance.now();
    // Windowed so QoS 1 acks flow; all of them in flight at once would only measure the queue.
    const WINDOW = 200;
    for (let i = 0; i < N; i += WINDOW) {
      const batch: Promise<void>[] = [];
      for (let j = i; j < Math.min(N, i + WINDOW); j++)
        batch.push(sender.publish(topic, encode(j), { qos: 1 }));
      await Promise.all(batch);
    }
    await waitUntil(() => lat.length + refused >= N, 60_000, `${label} deliveries`);
    const seconds = (performance.now() - t0) / 1000;
    await off();
    if (refused > 0) throw new Error(`${label}: ${refused} messages refused`);
    return { rate: N / seconds, p50: percentile(lat, 50), p99: percentile(lat, 99) };
  }

  const stamp = (i: number) => {
    const out = new Uint8Array(PAYLOAD);
    new DataView(out.buffer).setFloat64(0, performance.now());
    out.set(body, 8);
    void i;
    return out;
  };
  const raw = await run("raw", stamp, (p) => new DataView(p.buffer, p.byteOffset).getFloat64(0));

  const replay = createMemoryReplayGuard();
  const roster = new Map([[a.fp, a.cert]]);
  let seq = 0;
  const signed = await run(
    "signed",
    (i) =>
      sealEnvelope({
        keys: a.keys,
        seq: ++seq,
        now: Date.now(),
        type: "bench",
        body: stamp(i).subarray(0, PAYLOAD - 64 - 40),
      }),
    (p) => {
      const r = openEnvelope(p, {
        roster: (fp) => roster.get(fp),
        fleetPublicKey: authority.publicKey,
        now: Date.now(),
        replay,
      });
      return r.ok ? new DataView(r.envelope.body.buffer, r.envelope.body.byteOffset).getFloat64(0) : null;
    },
  );

  // Fan-out: one publisher, SUBS subscribers, every message to every subscriber.
  const subs = await Promise.all(Array.from({ length: SUBS }, (_, i) => connect(`sub${i}`, "x")));
  const fanTopic = "kiana/v1/bench/sender/fan";
  const FAN_N = Math.max(100, Math.floor(N / 10));
  const fanLat: number[] = [];
  await Promise.all(
    subs.map((s) =>
      s.subscribe(fanTopic, (_t, p) =>
        fanLat.push(performance.now() - new DataView(p.buffer, p.byteOffset).getFloat64(0)),
      ),
    ),
  );
  const f0 = performance.now();
  for (let i = 0; i < FAN_N; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, FAN_N - i) }, (_, j) =>
        sender.publish(fanTopic, stamp(i + j), { qos: 0 }),
      ),
    );
  }
  await waitUntil(() => fanLat.length >= FAN_N * SUBS * 0.999, 60_000, "fan-out deliveries");
  const fanSeconds = (performance.now() - f0) / 1000;

  console.log(`\nmesh messaging through mosquitto on loopback, ${N} messages of ${PAYLOAD} bytes, QoS 1`);
  console.log("| path | msg/s | p50 ms | p99 ms |");
  console.log("|---|---:|---:|---:|");
  for (const [name, r] of [
    ["raw mqtt.js", raw],
    ["signed envelopes (seal + verify)", signed],
  ] as const) {
    console.log(`| ${name} | ${r.rate.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} |`);
  }
  console.log(`| ratio signed / raw | ${(signed.rate / raw.rate).toFixed(2)}× | | |`);
  console.log(
    `\nfan-out: ${FAN_N} messages × ${SUBS} subscribers (QoS 0): ${(fanLat.length / fanSeconds).toFixed(0)} deliveries/s, ` +
      `p50 ${percentile(fanLat, 50).toFixed(2)} ms, p99 ${percentile(fanLat, 99).toFixed(2)} ms, delivered ${fanLat.length}/${FAN_N * SUBS}`,
  );
} finally {
  for (const c of clients) await c.close().catch(() => {});
  await broker.stop();
}
