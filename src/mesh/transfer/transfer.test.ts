import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, copyFileSync, existsSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { isKianaError } from "../../errors.ts";
import { createEngineRegistry } from "../../platform/engines.ts";
import { createMemoryBus } from "../adapters/memory.ts";
import { createFileCatalog } from "./catalog.ts";
import type { DataChannelModule } from "./datachannel-common.ts";
import { createDataChannelPath } from "./datachannel-path.ts";
import { createDataChannelServer, type ReadRange, readFileRange } from "./datachannel-server.ts";
import { createLanHttpPath, startLanHttpServer } from "./lan-http-path.ts";
import { createMqttPath, startMqttTransferServer } from "./mqtt-path.ts";
import { createRtcSignalling } from "./signalling.ts";
import { FLEET, tempFolder, testPeers, writeTestFile } from "./transfer.test-helper.ts";
import { type Announcement, onFileOffered, receiveFile, sendFile } from "./transfer.ts";

const MB = 1024 * 1024;
const { alice, bob, clock } = testPeers();
const tmp = tempFolder();
const source = join(tmp.dir, "voice-model.onnx");
const rtc = { bindAddress: "127.0.0.1" };
let mod: DataChannelModule;

beforeAll(async () => {
  mod = (await createEngineRegistry().load("datachannel")) as DataChannelModule;
  await writeTestFile(source, 8 * MB, 5);
});
afterAll(() => tmp.remove());

/** Alice runs all three servers; Bob has all three paths. Everything on loopback or the memory bus. */
async function rig(over: { read?: ReadRange; loadModule?: () => Promise<unknown> } = {}) {
  const bus = createMemoryBus();
  const [aT, bT] = [bus.connect(), bus.connect()];
  const catalog = createFileCatalog();
  const aliceSig = await createRtcSignalling({
    transport: aT,
    fleet: FLEET,
    node: "alice",
    seal: alice.auth.seal,
    open: alice.auth.opener(),
  });
  const bobSig = await createRtcSignalling({
    transport: bT,
    fleet: FLEET,
    node: "bob",
    seal: bob.auth.seal,
    open: bob.auth.opener(),
  });
  const dcServer = createDataChannelServer({
    module: mod,
    signalling: aliceSig,
    catalog,
    rtc,
    ...(over.read ? { read: over.read } : {}),
  });
  const mqttServer = await startMqttTransferServer({
    transport: aT,
    fleet: FLEET,
    node: "alice",
    catalog,
    seal: alice.auth.seal,
    open: alice.auth.opener(),
  });
  const http = startLanHttpServer({
    catalog,
    open: alice.auth.opener(),
    audience: alice.fp,
    clock,
    hostname: "127.0.0.1",
  });
  const paths = {
    http: createLanHttpPath({ seal: bob.auth.seal, clock }),
    dc: createDataChannelPath({
      loadModule: over.loadModule ?? (async () => mod),
      signalling: bobSig,
      rtc,
      connectTimeoutMs: 5000,
    }),
    mqtt: createMqttPath({
      transport: bT,
      fleet: FLEET,
      node: "bob",
      seal: bob.auth.seal,
      open: bob.auth.opener(),
      clock,
    }),
  };
  const offered: { a: Announcement; from: { node: string; fingerprint: string } }[] = [];
  const unsubscribe = await onFileOffered({
    transport: bT,
    fleet: FLEET,
    node: "bob",
    open: bob.auth.opener(),
    handler: (a, from) => offered.push({ a, from }),
  });
  const announce = async (path = source) => {
    await sendFile({
      catalog,
      transport: aT,
      fleet: FLEET,
      node: "alice",
      seal: alice.auth.seal,
      path,
      to: "bob",
      httpUrl: http.url,
    });
    for (let i = 0; i < 100 && offered.length === 0; i++) await Bun.sleep(5);
    const got = offered.shift();
    if (!got) throw new Error("no offer arrived");
    const peer = {
      node: got.from.node,
      fingerprint: got.from.fingerprint,
      ...(got.a.httpUrl ? { httpUrl: got.a.httpUrl } : {}),
    };
    return { offer: got.a.offer, peer };
  };
  const teardown = async () => {
    await unsubscribe();
    await dcServer.close();
    await mqttServer.close();
    await http.stop();
    await aliceSig.close();
    await bobSig.close();
  };
  return { paths, announce, teardown };
}

describe("receiveFile", () => {
  test("an announced offer arrives signed and is fetched over the first path, LAN HTTP", async () => {
    const r = await rig();
    try {
      const { offer, peer } = await r.announce();
      expect(peer).toMatchObject({ node: "alice", fingerprint: alice.fp });
      const progress: number[] = [];
      const dest = join(tmp.dir, "first-path.onnx");
      const res = await receiveFile({
        offer,
        peer,
        dest,
        paths: [r.paths.http, r.paths.dc, r.paths.mqtt],
        clock,
        onProgress: (p) => progress.push(p.received),
      });
      expect(res.path).toBe(dest);
      expect(res.attempts).toEqual([{ path: "lan-http", from: 0, to: offer.size }]);
      expect(progress.at(-1)).toBe(offer.size);
    } finally {
      await r.teardown();
    }
  }, 15_000);

  test("with the data-channel engine missing, the same transfer falls back to MQTT", async () => {
    const empty = tempFolder("kiana-nolib-");
    const registry = createEngineRegistry({ libDir: empty.dir });
    const r = await rig({ loadModule: () => registry.load("datachannel") });
    try {
      const { offer, peer } = await r.announce();
      const res = await receiveFile({
        offer,
        peer,
        dest: join(tmp.dir, "no-engine.onnx"),
        paths: [r.paths.dc, r.paths.mqtt],
        clock,
      });
      expect(res.attempts.map((a) => [a.path, a.code ?? "ok"])).toEqual([
        ["datachannel", "TRANSFER_PATH_UNAVAILABLE"],
        ["mqtt", "ok"],
      ]);
    } finally {
      await r.teardown();
      empty.remove();
    }
  }, 15_000);

  test("a data channel that stalls mid-transfer is detected and MQTT resumes from the received offset", async () => {
    let served = 0;
    const r = await rig({
      read: async (p, start, end) => {
        served += end - start;
        // Stuck like a wedged SCTP association: no error, no close, just nothing more.
        if (served > 3 * MB) return new Promise<Uint8Array>(() => {});
        return readFileRange(p, start, end);
      },
    });
    try {
      const { offer, peer } = await r.announce();
      const t0 = performance.now();
      const res = await receiveFile({
        offer,
        peer,
        dest: join(tmp.dir, "stalled.onnx"),
        paths: [r.paths.dc, r.paths.mqtt],
        clock,
        stallMs: 1000,
      });
      expect(performance.now() - t0).toBeLessThan(10_000);
      const [dc, mqtt] = res.attempts;
      expect(dc?.code).toBe("TRANSFER_STALLED");
      expect(dc?.to).toBeGreaterThan(0);
      expect(mqtt).toEqual({ path: "mqtt", from: dc?.to ?? -1, to: offer.size });
    } finally {
      await r.teardown();
    }
  }, 20_000);

  test("a corrupted chunk fails the sha256 check and nothing is put in place", async () => {
    const r = await rig();
    try {
      const copy = join(tmp.dir, "to-corrupt.onnx");
      copyFileSync(source, copy);
      const { offer, peer } = await r.announce(copy);
      // The disk under the shared file flips a byte after the offer was hashed.
      const fd = openSync(copy, "r+");
      writeSync(fd, new Uint8Array([0x5a]), 0, 1, 5 * MB + 17);
      closeSync(fd);
      const dest = join(tmp.dir, "corrupt.onnx");
      const err = await receiveFile({ offer, peer, dest, paths: [r.paths.mqtt], clock }).catch((e) => e);
      expect(isKianaError(err, "TRANSFER_HASH_MISMATCH")).toBe(true);
      expect(existsSync(dest)).toBe(false);
      expect(existsSync(`${dest}.part`)).toBe(false);
    } finally {
      await r.teardown();
    }
  }, 15_000);

  test("when every path fails, the error lists each attempt and the part file is kept for later", async () => {
    const r = await rig();
    try {
      const { offer, peer } = await r.announce();
      const dest = join(tmp.dir, "unreachable.onnx");
      const err = await receiveFile({
        offer,
        peer: { ...peer, httpUrl: undefined, node: "nobody" },
        dest,
        paths: [r.paths.http],
        clock,
      }).catch((e) => e);
      expect(isKianaError(err, "TRANSFER_FAILED")).toBe(true);
      expect(err.message).toContain("lan-http: nobody announced no LAN HTTP address");
      expect(existsSync(`${dest}.part`)).toBe(true);
    } finally {
      await r.teardown();
    }
  }, 10_000);
});
