// The FedAvg service before and without a mesh: it says it is not ready instead of failing, a model
// kept from an earlier run is the current one at once (the verifier works offline), and a damaged
// model file is ignored with a warning rather than stopping the node.
import { afterAll, expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../config/index.ts";
import { saveModel } from "../fedavg/adapters/model-file.ts";
import { WAKE_FEATURES } from "../fedavg/features.ts";
import { loadNodeKeys } from "../identity/node-keys.ts";
import { tempDir } from "../identity/test-fleet.test-helper.ts";
import { createManualClock } from "../platform/clock.ts";
import { createHealthRegistry } from "../platform/health.ts";
import { createLogger } from "../platform/log.ts";
import { openStore } from "../store/index.ts";
import { startFedavg } from "./fedavg-service.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function service(role: "hub" | "node", prepare?: (data: string) => void) {
  const data = tempDir("kiana-fedavg-svc-");
  dirs.push(data);
  prepare?.(data);
  const config = loadConfig({
    env: { KIANA_FEDAVG_ENABLED: "true", KIANA_NODE_ROLE: role },
    flags: { data },
    deviceConfigFile: join(data, "no-device.toml"),
  });
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level: "debug", write: (l) => void lines.push(JSON.parse(l)) });
  const store = openStore({ path: join(data, "kiana.db") });
  const clock = createManualClock();
  const svc = await startFedavg(config, {
    store,
    keys: loadNodeKeys({ dataDir: data }),
    log,
    health: createHealthRegistry(),
    // A mesh that has not joined yet: no direct messages, no transfers.
    mesh: () => undefined,
    chain: { chainLog: { append: () => undefined }, view: () => ({ list: () => [] }) },
    clock,
  });
  const close = () => {
    svc.stop();
    store.close();
  };
  return { svc, lines, clock, close };
}

test("before the mesh joins: not ready, and a round cannot start yet", async () => {
  const { svc, clock, close } = await service("hub");
  clock.advance(5000);
  const v = svc.admin.view();
  expect(v).toMatchObject({ enabled: true, role: "coordinator", ready: false, model: null, rounds: [] });
  expect(() => svc.admin.startRound?.()).toThrow(/has not joined the fleet's mesh yet/);
  expect(svc.verifier()).toBeNull();
  close();
});

test("a node starts with the model it kept; the verifier scores with it; a damaged file is ignored", async () => {
  const p = new Float32Array(WAKE_FEATURES + 1);
  p[WAKE_FEATURES] = 3; // the bias alone: every window scores sigmoid(3)
  const kept = await service("node", (data) => void saveModel(join(data, "fedavg", "model.kfm"), 7, p));
  expect(kept.svc.admin.view()).toMatchObject({ role: "client", model: { version: 7 } });
  expect(kept.svc.admin.startRound).toBeUndefined();
  expect(kept.svc.verifier()?.(new Float32Array(WAKE_FEATURES))).toBeCloseTo(1 / (1 + Math.exp(-3)), 6);
  kept.close();

  const damaged = await service("node", (data) => {
    mkdirSync(join(data, "fedavg"), { recursive: true });
    writeFileSync(join(data, "fedavg", "model.kfm"), "not a model");
  });
  expect(damaged.svc.current()).toBeNull();
  expect(damaged.lines.some((l) => l.msg === "stored FedAvg model ignored; starting afresh")).toBe(true);
  damaged.close();
});
