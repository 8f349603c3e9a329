import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { isKianaError, KianaError } from "../../errors.ts";
import { createEngineRegistry } from "../../platform/engines.ts";
import { createMemoryBus } from "../adapters/memory.ts";
import { createFileCatalog } from "./catalog.ts";
import type { DataChannelModule } from "./datachannel-common.ts";
import { createDataChannelPath } from "./datachannel-path.ts";
import { createDataChannelServer, type ReadRange, readFileRange } from "./datachannel-server.ts";
import type { TransferOffer } from "./manifest.ts";
import type { PeerRef } from "./ports.ts";
import { createRtcSignalling } from "./signalling.ts";
import { openStaging, type StagingFile } from "./staging.ts";
import { FLEET, tempFolder, testPeers, writeTestFile } from "./transfer.test-helper.ts";

const MB = 1024 * 1024;
const peers = testPeers();
const { alice, bob } = peers;
const tmp = tempFolder();
const catalog = createFileCatalog();
const rtc = { bindAddress: "127.0.0.1" }; // loopback only
let mod: DataChannelModule;
let offer: TransferOffer;
const source = join(tmp.dir, "model.gguf");

beforeAll(async () => {
  mod = (await createEngineRegistry().load("datachannel")) as DataChannelModule;
  await writeTestFile(source, 8 * MB);
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

/** Alice serves, Bob fetches, over one memory bus; returns what a test needs and a teardown. */
async function rig(over: { read?: ReadRange; stallMs?: number; loadModule?: () => Promise<unknown> } = {}) {
  const bus = createMemoryBus();
  const aliceSig = await createRtcSignalling({
    transport: bus.connect(),
    fleet: FLEET,
    node: "alice",
    seal: alice.auth.seal,
    open: alice.auth.opener(),
  });
  const bobSig = await createRtcSignalling({
    transport: bus.connect(),
    fleet: FLEET,
    node: "bob",
    seal: bob.auth.seal,
    open: bob.auth.opener(),
  });
  const events: string[] = [];
  const server = createDataChannelServer({
    module: mod,
    signalling: aliceSig,
    catalog,
    rtc,
    ...(over.read ? { read: over.read } : {}),
    onEvent: (e) => events.push(`${e.what} ${e.detail ?? ""}`),
  });
  const path = createDataChannelPath({
    loadModule: over.loadModule ?? (async () => mod),
    signalling: bobSig,
    rtc,
    stallMs: over.stallMs ?? 3000,
    connectTimeoutMs: 5000,
  });
  const peer: PeerRef = { node: "alice", fingerprint: alice.fp };
  const teardown = async () => {
    await server.close();
    await aliceSig.close();
    await bobSig.close();
  };
  return { server, path, peer, events, teardown };
}

describe("data-channel path", () => {
  test("moves 8 MB on loopback with the sha256 matching", async () => {
    const r = await rig();
    try {
      const dest = join(tmp.dir, "dc-whole.bin");
      const sink = await stage({ dest, offer });
      await r.path.fetch({ offer, peer: r.peer, sink, signal: new AbortController().signal });
      expect(await sink.commit()).toBe(dest);
      expect(existsSync(`${dest}.part`)).toBe(false);
    } finally {
      await r.teardown();
    }
  }, 20_000);

  test("a channel cut in the middle fails clearly, and a second fetch resumes from the part file", async () => {
    let served = 0;
    let cut: (() => void) | undefined;
    const r = await rig({
      read: async (p, start, end) => {
        served += end - start;
        if (served > 3 * MB) cut?.();
        return readFileRange(p, start, end);
      },
    });
    try {
      const dest = join(tmp.dir, "dc-cut.bin");
      let sink = await stage({ dest, offer });
      cut = () => {
        cut = undefined;
        void r.server.close(); // kills every session: the receiver sees its channel close
      };
      const err = await r.path
        .fetch({ offer, peer: r.peer, sink, signal: new AbortController().signal })
        .catch((e) => e);
      expect(err).toBeInstanceOf(KianaError);
      const at = sink.offset;
      expect(at).toBeGreaterThan(0);
      expect(at).toBeLessThan(offer.size);
      await sink.close();

      const again = await rig();
      try {
        sink = await stage({ dest, offer });
        expect(sink.offset).toBe(at);
        await again.path.fetch({ offer, peer: again.peer, sink, signal: new AbortController().signal });
        expect(await sink.commit()).toBe(dest);
        expect(again.events.some((e) => e.startsWith(`start ${offer.id} from ${at}`))).toBe(true);
      } finally {
        await again.teardown();
      }
    } finally {
      await r.teardown();
    }
  }, 30_000);

  test("a sender that stops sending is reported as a stall within the stall time, never a hang", async () => {
    let served = 0;
    const r = await rig({
      stallMs: 1000,
      read: async (p, start, end) => {
        served += end - start;
        if (served > 2 * MB) return new Promise<Uint8Array>(() => {}); // the disk never answers
        return readFileRange(p, start, end);
      },
    });
    try {
      const sink = await stage({ dest: join(tmp.dir, "dc-stall.bin"), offer });
      const t0 = performance.now();
      const err = await r.path
        .fetch({ offer, peer: r.peer, sink, signal: new AbortController().signal })
        .catch((e) => e);
      expect(isKianaError(err, "TRANSFER_STALLED")).toBe(true);
      expect(performance.now() - t0).toBeLessThan(5000);
      expect(sink.offset).toBeGreaterThan(0);
      await sink.close();
    } finally {
      await r.teardown();
    }
  }, 15_000);

  test("with the engine missing the path says it is unavailable (the caller falls back)", async () => {
    const empty = tempFolder("kiana-nolib-");
    const registry = createEngineRegistry({ libDir: empty.dir });
    const r = await rig({ loadModule: () => registry.load("datachannel") });
    try {
      const sink = await stage({ dest: join(tmp.dir, "dc-missing.bin"), offer });
      const err = await r.path
        .fetch({ offer, peer: r.peer, sink, signal: new AbortController().signal })
        .catch((e) => e);
      expect(isKianaError(err, "TRANSFER_PATH_UNAVAILABLE")).toBe(true);
      expect(err.details.engineCode).toBe("ENGINE_MISSING");
      await sink.close();
    } finally {
      await r.teardown();
      empty.remove();
    }
  }, 10_000);
});
