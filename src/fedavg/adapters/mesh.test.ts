// The mesh adapter against stand-ins for direct messages and file transfers that behave like the
// mesh's (names on the wire, files copied into the receiver's folder): a whole round runs over it,
// control goes only through direct messages, bulk only through files, and received files are removed.
import { afterAll, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Certificate, certificateFingerprint } from "../../identity/enrolment.ts";
import { tempDir } from "../../identity/test-fleet.test-helper.ts";
import type { ReceivedFile } from "../../mesh/transfer/index.ts";
import { createManualClock } from "../../platform/clock.ts";
import { createLogger } from "../../platform/log.ts";
import { createFedavgClient } from "../client.ts";
import { createCoordinator } from "../coordinator.ts";
import { settingsFor } from "../federation.test-helper.ts";
import { isModelBytes } from "../messages.ts";
import { initParams, type ModelSpec } from "../model.ts";
import { createRng } from "../rng.ts";
import { testIdentity } from "../test-keys.test-helper.ts";
import { createMeshFedavgTransport, FEDAVG_MESSAGE_TYPE } from "./mesh.ts";

const spec: ModelSpec = { kind: "logistic", inputs: 8, hidden: 0 };
const root = tempDir("kiana-fedavg-mesh-");
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A fleet of devices by name; certificates carry only what the adapter reads. */
function fleet(names: string[]) {
  const ids = names.map(() => testIdentity());
  // The adapter derives fingerprints from signing keys; a fake key per device, its fingerprint known.
  const certs = names.map((name, k) => ({
    name,
    role: k === 0 ? "hub" : "node",
    signingKey: new Uint8Array(32).fill(k + 1),
    agreementKey: (ids[k] as (typeof ids)[number]).agreementPublicKey,
  })) as unknown as Certificate[];
  const fps = certs.map((c) => certificateFingerprint(c));
  const log: { kind: "direct" | "file"; from: string; to: string; type?: string; bytes: number }[] = [];
  const inboxes = new Map<string, (from: Certificate, type: string, payload: Uint8Array) => void>();
  const fileHandlers = new Map<string, (f: ReceivedFile) => void>();
  const clock = createManualClock();
  const transports = names.map((name, k) => {
    const received = join(root, name, "received");
    mkdirSync(received, { recursive: true });
    return createMeshFedavgTransport({
      self: fps[k] as string,
      direct: {
        send: async (to, type, payload) => {
          log.push({ kind: "direct", from: name, to, type, bytes: payload.length });
          queueMicrotask(() => inboxes.get(to)?.(certs[k] as Certificate, type, payload));
          return { id: String(log.length) };
        },
        onMessage: (h) => {
          inboxes.set(name, (from, type, payload) => void h(from, type, payload, "id"));
          return () => inboxes.delete(name);
        },
      },
      transfers: {
        send: async (to, path) => {
          const file = join(root, to, "received", path.split("/").at(-1) as string);
          copyFileSync(path, file);
          const bytes = Bun.file(file).size;
          log.push({ kind: "file", from: name, to, bytes });
          const f = {
            from: name,
            fingerprint: fps[k] as string,
            name: path.split("/").at(-1) as string,
            bytes,
            file,
          };
          queueMicrotask(() => fileHandlers.get(to)?.(f as ReceivedFile));
          return { id: "x", name: f.name, size: bytes, sha256: "" } as never;
        },
      },
      onFileReceived: (h) => {
        fileHandlers.set(name, h);
        return () => fileHandlers.delete(name);
      },
      roster: () => certs,
      outboxDir: join(root, name, "outbox"),
      maxBulkBytes: 64 * 1024,
      clock,
      log: createLogger({ write: () => {} }),
    });
  });
  return { names, certs, fps, ids, log, clock, transports, fileHandlers };
}

const settle = async () => {
  for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
};

test("a round over the mesh adapter: control as direct messages, models and updates as files, files removed once read", async () => {
  const f = fleet(["hub", "attic", "cellar"]);
  const rng = createRng(3);
  const data = (sign: number) =>
    Array.from({ length: 40 }, (_, i) => {
      const y = (i % 2) as 0 | 1;
      const x = Float32Array.from({ length: 8 }, () => rng.next() + (y ? sign : -sign));
      return { x, y };
    });
  let released: Float32Array | null = null;
  const coordinator = createCoordinator({
    transport: f.transports[0] as (typeof f.transports)[number],
    clock: f.clock,
    joinMs: 5000,
    onRelease: (_r, p) => {
      released = p;
    },
  });
  const models: number[] = [];
  const clients = [1, 2].map((k) =>
    createFedavgClient({
      transport: f.transports[k] as (typeof f.transports)[number],
      coordinator: f.fps[0] as string,
      examples: () => data(k),
      keys: f.ids[k] as (typeof f.ids)[number],
      agreementKeyOf: (fp) => f.certs[f.fps.indexOf(fp)]?.agreementKey,
      seed: k,
      onModel: (v) => models.push(v),
    }),
  );
  const s = settingsFor(spec, { minClients: 2, maxClients: 2, deadlineAt: f.clock.now() + 60_000 });
  const invited = f.fps.slice(1);
  const done = coordinator.runRound(s, initParams(spec, createRng(1)), invited);
  for (let i = 0; i < 20; i++) await settle();
  const status = await done;
  await settle();
  expect(status.phase).toBe("released");
  expect(status.release?.participants).toEqual(invited);
  expect(released).not.toBeNull();
  expect(models).toEqual([1, 1]);
  // Direct messages are small control JSON of type fedavg; everything bulky went as a file.
  expect(
    f.log.filter((m) => m.kind === "direct").every((m) => m.type === FEDAVG_MESSAGE_TYPE && m.bytes < 2048),
  ).toBe(true);
  const files = f.log.filter((m) => m.kind === "file");
  expect(files.map((m) => `${m.from}>${m.to}`).sort()).toEqual(
    ["attic>hub", "cellar>hub", "hub>attic", "hub>attic", "hub>cellar", "hub>cellar"].sort(),
  );
  for (const name of f.names) expect(readdirSync(join(root, name, "received"))).toEqual([]);
  // The hub wrote each distinct model once to its outbox, named by content.
  expect(readdirSync(join(root, "hub", "outbox")).every((n) => /^fedavg-[0-9a-f]{16}\.bin$/.test(n))).toBe(
    true,
  );
  coordinator.stop();
  for (const c of clients) c.stop();
});

test("foreign files are left alone, oversized ones deleted unread, unknown peers refused", async () => {
  const f = fleet(["hub", "attic"]);
  const seen: Uint8Array[] = [];
  (f.transports[1] as (typeof f.transports)[number]).listen({
    control() {},
    bulk: (_from, b) => void seen.push(b as Uint8Array),
  });
  const dir = join(root, "attic", "received");
  const deliver = (name: string, bytes: Uint8Array) => {
    const file = join(dir, name);
    writeFileSync(file, bytes);
    f.fileHandlers.get("attic")?.({
      from: "hub",
      fingerprint: f.fps[0],
      name,
      bytes: bytes.length,
      file,
    } as ReceivedFile);
    return file;
  };
  const photo = deliver("holiday.jpg", new Uint8Array(10));
  const big = deliver("fedavg-00112233445566aa.bin", new Uint8Array(64 * 1024 + 1));
  deliver("fedavg-00112233445566bb.bin", Uint8Array.of(1, 2, 3));
  expect(existsSync(photo)).toBe(true);
  expect(existsSync(big)).toBe(false);
  expect(seen).toEqual([Uint8Array.of(1, 2, 3)]);
  expect(isModelBytes(seen[0] as Uint8Array)).toBe(false);
  await expect(
    (f.transports[1] as (typeof f.transports)[number]).send("ff".repeat(16), new Uint8Array(1)),
  ).rejects.toThrow(/no enrolled device/);
});
