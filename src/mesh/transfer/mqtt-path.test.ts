import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { isKianaError } from "../../errors.ts";
import { createMemoryBus } from "../adapters/memory.ts";
import { createMqttTransport } from "../adapters/mqtt.ts";
import { startTestBroker } from "../broker/mosquitto.test-helper.ts";
import type { MessageTransport } from "../ports.ts";
import { createFileCatalog } from "./catalog.ts";
import type { TransferOffer } from "./manifest.ts";
import { createMqttPath, startMqttTransferServer } from "./mqtt-path.ts";
import type { ChunkSink } from "./ports.ts";
import { openStaging, type StagingFile } from "./staging.ts";
import { FLEET, type TestPeer, tempFolder, testPeers, writeTestFile } from "./transfer.test-helper.ts";

const MB = 1024 * 1024;
const { alice, bob, mallory, clock } = testPeers();
const tmp = tempFolder();
const catalog = createFileCatalog();
const source = join(tmp.dir, "weights.onnx");
let offer: TransferOffer;
const peer = { node: "alice", fingerprint: alice.fp };
const never = () => new AbortController().signal;

beforeAll(async () => {
  await writeTestFile(source, 8 * MB, 3);
  offer = await catalog.share(source);
});
afterAll(() => tmp.remove());
// Every part file is closed after each test, whatever the test's outcome.
const sinks: StagingFile[] = [];
const stage = async (o: Parameters<typeof openStaging>[0]) => {
  const s = await openStaging(o);
  sinks.push(s);
  return s;
};
afterEach(async () => {
  for (const s of sinks.splice(0)) await s.close().catch(() => {});
});

async function serveAlice(t: MessageTransport) {
  return startMqttTransferServer({
    transport: t,
    fleet: FLEET,
    node: "alice",
    catalog,
    seal: alice.auth.seal,
    open: alice.auth.opener(),
  });
}
const pathFor = (t: MessageTransport, who: TestPeer = bob, retryMs = 1000) =>
  createMqttPath({
    transport: t,
    fleet: FLEET,
    node: who.name,
    seal: who.auth.seal,
    open: who.auth.opener(),
    clock,
    retryMs,
    maxRetries: 2,
  });

describe("MQTT path (memory bus)", () => {
  test("moves 8 MB in signed 64 KiB chunks with the sha256 matching", async () => {
    const bus = createMemoryBus();
    const server = await serveAlice(bus.connect());
    try {
      const dest = join(tmp.dir, "mqtt-whole.bin");
      const sink = await stage({ dest, offer });
      await pathFor(bus.connect()).fetch({ offer, peer, sink, signal: never() });
      expect(await sink.commit()).toBe(dest);
    } finally {
      await server.close();
    }
  }, 20_000);

  test("dropping the receiver's client mid-transfer fails the path; a new client resumes from disk", async () => {
    const bus = createMemoryBus();
    const server = await serveAlice(bus.connect());
    try {
      const dest = join(tmp.dir, "mqtt-drop.bin");
      let sink = await stage({ dest, offer });
      const client = bus.connect();
      const dropping: ChunkSink = {
        get offset() {
          return sink.offset;
        },
        async append(b) {
          await sink.append(b);
          if (sink.offset >= 3 * MB) await client.close();
        },
      };
      const err = await pathFor(client)
        .fetch({ offer, peer, sink: dropping, signal: never() })
        .catch((e) => e);
      expect(isKianaError(err)).toBe(true);
      const at = sink.offset;
      expect(at).toBeGreaterThanOrEqual(3 * MB);
      expect(at).toBeLessThan(offer.size);
      await sink.close();

      sink = await stage({ dest, offer });
      expect(sink.offset).toBe(at);
      await pathFor(bus.connect()).fetch({ offer, peer, sink, signal: never() });
      expect(await sink.commit()).toBe(dest);
    } finally {
      await server.close();
    }
  }, 20_000);

  test("a peer from another fleet gets no chunks and its path reports a stall, not a hang", async () => {
    const bus = createMemoryBus();
    const refused: string[] = [];
    const server = await startMqttTransferServer({
      transport: bus.connect(),
      fleet: FLEET,
      node: "alice",
      catalog,
      seal: alice.auth.seal,
      open: alice.auth.opener(),
      onRefused: (d) => refused.push(d),
    });
    try {
      const sink = await stage({ dest: join(tmp.dir, "mqtt-mallory.bin"), offer });
      const err = await pathFor(bus.connect(), mallory, 100)
        .fetch({ offer, peer, sink, signal: never() })
        .catch((e) => e);
      expect(isKianaError(err, "TRANSFER_STALLED")).toBe(true);
      expect(sink.offset).toBe(0);
      expect(refused.some((d) => d.includes("unknown-sender"))).toBe(true);
      await sink.close();
    } finally {
      await server.close();
    }
  }, 5000);
});

describe("MQTT path (real mosquitto, device ACLs)", () => {
  test("moves 8 MB between two devices that may only publish under their own node", async () => {
    const devices = [
      { username: "alice", password: "alice-secret-1", node: "alice" },
      { username: "bob", password: "bob-secret-12", node: "bob" },
    ];
    const broker = await startTestBroker({ fleet: FLEET, devices });
    const transports = devices.map((d) =>
      createMqttTransport({
        url: broker.url,
        username: d.username,
        password: d.password,
        fleet: FLEET,
        node: d.node,
        presence: false,
      }),
    );
    try {
      const [a, b] = transports as [
        ReturnType<typeof createMqttTransport>,
        ReturnType<typeof createMqttTransport>,
      ];
      await Promise.all([a.ready(), b.ready()]);
      const server = await serveAlice(a);
      const dest = join(tmp.dir, "mosquitto.bin");
      const sink = await stage({ dest, offer });
      await pathFor(b).fetch({ offer, peer, sink, signal: never() });
      expect(await sink.commit()).toBe(dest);
      await server.close();
    } finally {
      for (const t of transports) await t.close().catch(() => {});
      await broker.stop();
    }
  }, 30_000);
});
