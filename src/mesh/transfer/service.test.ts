import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { Certificate } from "../../identity/enrolment.ts";
import { enrolNode, testFleet } from "../../identity/test-fleet.test-helper.ts";
import { createEngineRegistry } from "../../platform/engines.ts";
import { createLogger } from "../../platform/log.ts";
import { createMemoryBus } from "../adapters/memory.ts";
import type { PathName } from "./ports.ts";
import { safeFileName } from "./receive-queue.ts";
import { createTransferService, type TransferService } from "./service.ts";
import { FLEET, fleetClock, tempFolder, writeTestFile } from "./transfer.test-helper.ts";

const MB = 1024 * 1024;
const tmp = tempFolder("kiana-xfer-service-");
const source = join(tmp.dir, "weights.bin");
let sha256 = "";
beforeAll(async () => {
  sha256 = await writeTestFile(source, 3 * MB, 11);
});
afterAll(() => tmp.remove());
let pairs = 0;

type Line = Record<string, unknown> & { msg: string };

/** Alice sends, Bob receives with `paths`; Alice's LAN HTTP handler is served on loopback. */
async function pair(paths: PathName[], over: { maxReceiveBytes?: number; freeBytes?: number } = {}) {
  const clock = fleetClock();
  const run = ++pairs;
  const fleet = testFleet(FLEET);
  const roster = new Map<string, Certificate>();
  const bus = createMemoryBus();
  const registry = createEngineRegistry();
  const services: TransferService[] = [];
  const lines: Line[] = [];
  const nodes = ["alice", "bob"].map((name) => enrolNode(fleet, name));
  for (const n of nodes) roster.set(n.fp, n.cert);
  let server: ReturnType<typeof Bun.serve> | undefined;
  for (const [i, name] of ["alice", "bob"].entries()) {
    const n = nodes[i];
    if (!n) throw new Error("no node");
    let seq = 0;
    const log = createLogger({
      format: "json",
      write: (s) => {
        if (name === "bob") lines.push(JSON.parse(s) as Line);
      },
    });
    const service = createTransferService({
      transport: bus.connect(),
      fleet: FLEET,
      node: name,
      keys: n.keys,
      nextSeq: () => ++seq,
      clock,
      log,
      open: { roster: (fp) => roster.get(fp), fleetPublicKey: fleet.publicKey, fleetId: FLEET },
      receivedDir: join(tmp.dir, `${name}-${run}-received`),
      httpUrl: () => (server ? `http://127.0.0.1:${server.port}` : undefined),
      paths,
      loadDataChannel: () => registry.load("datachannel"),
      rtc: { bindAddress: "127.0.0.1" },
      maxReceiveBytes: over.maxReceiveBytes ?? 100 * MB,
      freeBytes: () => over.freeBytes ?? 1024 * MB,
      knows: (peer) => peer === "alice" || peer === "bob",
    });
    await service.start();
    services.push(service);
    if (name === "alice")
      server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => service.httpHandler(req) });
  }
  const [alice, bob] = services as [TransferService, TransferService];
  const waitFor = async (msg: string, ms = 15_000) => {
    for (let t = 0; t < ms; t += 20) {
      const hit = lines.find((l) => l.msg === msg);
      if (hit) return hit;
      await Bun.sleep(20);
    }
    throw new Error(`no "${msg}" within ${ms} ms: ${JSON.stringify(lines.map((l) => l.msg))}`);
  };
  const teardown = async () => {
    for (const s of services) await s.stop();
    server?.stop(true);
  };
  return { alice, bob, lines, waitFor, teardown, dir: join(tmp.dir, `bob-${run}-received`) };
}

describe("transfer service", () => {
  for (const path of ["lan-http", "mqtt", "datachannel"] as const) {
    test(`an offered file arrives in the received folder over ${path}, with its sha256 logged`, async () => {
      const p = await pair([path]);
      try {
        expect(p.bob.paths).toEqual([path]);
        const offer = await p.alice.send("bob", source);
        const got = await p.waitFor("file received");
        expect(got).toMatchObject({ from: "alice", name: "weights.bin", bytes: 3 * MB, sha256, path });
        expect(offer.sha256).toBe(sha256);
        expect(readdirSync(p.dir)).toEqual(["weights.bin"]);
        expect(await Bun.file(join(p.dir, "weights.bin")).size).toBe(3 * MB);
      } finally {
        await p.teardown();
      }
    }, 20_000);
  }

  test("offers over the size limit or the free disk space are refused and nothing is written", async () => {
    for (const over of [{ maxReceiveBytes: 2 * MB }, { freeBytes: 10 * MB }]) {
      const p = await pair(["mqtt"], over);
      try {
        await p.alice.send("bob", source);
        const failed = await p.waitFor("file transfer failed");
        expect(String(failed.reason)).toMatch(over.maxReceiveBytes ? /over the limit/ : /free on disk/);
        expect(readdirSync(p.dir)).toEqual([]);
      } finally {
        await p.teardown();
      }
    }
  }, 20_000);

  test("sending checks the receiver and the source file first", async () => {
    const p = await pair(["mqtt"]);
    try {
      await expect(p.alice.send("garage", source)).rejects.toMatchObject({ code: "MESH_PEER_UNKNOWN" });
      await expect(p.alice.send("bob", "weights.bin")).rejects.toMatchObject({
        code: "TRANSFER_SOURCE_INVALID",
      });
      await expect(p.alice.send("bob", join(tmp.dir, "nothing"))).rejects.toMatchObject({
        code: "TRANSFER_SOURCE_MISSING",
      });
    } finally {
      await p.teardown();
    }
  });

  test("received names stay inside the folder", () => {
    expect(safeFileName("../../etc/passwd")).toBe("passwd");
    expect(safeFileName("..")).toBe("file");
    expect(safeFileName(".bashrc")).toBe("bashrc");
    expect(safeFileName("a b\u0000c;.onnx")).toBe("a_b_c_.onnx");
    expect(safeFileName("C:\\temp\\x.bin")).toBe("x.bin");
    expect(existsSync(join(tmp.dir, "passwd"))).toBe(false);
  });
});
