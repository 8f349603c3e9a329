// FedAvg on the real mesh: a hub and two nodes, three `kiana run` processes in network namespaces this
// test makes, each node's example store seeded with one household's wake-word examples (espeak-ng +
// openWakeWord embeddings). Ten rounds started with `kiana fedavg start-round` must reach the accuracy
// of central training on the union within 2 points; every release is a model-release block that syncs
// to the nodes, which hold the released bytes; and nothing that crosses carries a raw example: a
// sniffer on the broker records every MQTT payload, and the transfers carry only update-sized files.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { WAKE_FEATURES, wakeFeatures } from "../fedavg/features.ts";
import { settingsFor } from "../fedavg/federation.test-helper.ts";
import { createExampleStore, decodeModel, initParams, paramCount } from "../fedavg/index.ts";
import { sha256Hex } from "../fedavg/messages.ts";
import { createRng } from "../fedavg/rng.ts";
import { type Example, evaluate, train } from "../fedavg/trainer.ts";
import { encodedBytes } from "../fedavg/update-codec.ts";
import { buildWakeDataset } from "../fedavg/wake-dataset.test-helper.ts";
import { tempDir, testFleet } from "../identity/test-fleet.test-helper.ts";
import { enrolledDataDir } from "../mesh/enrolled-node.test-helper.ts";
import { createKianaHosts, type KianaHosts } from "../mesh/kiana-hosts.test-helper.ts";
import { type NetnsLan, type WatchedProcess, waitFor, watch } from "../mesh/netns.test-helper.ts";
import { openStore } from "../store/index.ts";
import { readSniffed } from "./mqtt-sniffer.test-helper.ts";

const MAIN = join(import.meta.dir, "..", "main.ts");
const SNIFFER = join(import.meta.dir, "mqtt-sniffer.test-helper.ts");
const ROUNDS = 10;
const spec = { kind: "logistic" as const, inputs: WAKE_FEATURES, hidden: 0 };
const P = paramCount(spec);
// Measured in process over 24 seeds: at 0.002, ten rounds of two households never fall below central.
const LEARNING_RATE = 0.002;
let hosts: KianaHosts;
let lan: NetnsLan;
let households: Example[][] = [];
let testSet: Example[] = [];

const FEDAVG_ENV = {
  KIANA_FEDAVG_ENABLED: "true",
  KIANA_FEDAVG_MIN_CLIENTS: "2",
  KIANA_FEDAVG_MAX_CLIENTS: "2",
  KIANA_FEDAVG_JOIN_SECONDS: "20",
  KIANA_FEDAVG_DEADLINE_SECONDS: "60",
  KIANA_FEDAVG_LEARNING_RATE: String(LEARNING_RATE),
};

const start = (host: number, dataDir: string, name: string) => hosts.start(host, dataDir, name, FEDAVG_ENV);

/** Runs a command in a host namespace to its end, bounded. */
async function exec(host: number, argv: string[], env: Record<string, string>, timeoutMs = 120_000) {
  const p = watch(lan.run(lan.hosts[host] as string, argv, env));
  const exited = await Promise.race([p.proc.exited.then(() => true), Bun.sleep(timeoutMs).then(() => false)]);
  if (!exited) {
    p.proc.kill("SIGKILL");
    throw new Error(`${argv.join(" ")} did not finish in ${timeoutMs} ms: ${p.stderr()}`);
  }
  await Bun.sleep(20); // stdout's drain may trail the exit by a tick
  return { code: p.proc.exitCode, lines: p.lines, stderr: p.stderr() };
}

function seed(dataDir: string, examples: Example[]) {
  const store = openStore({ path: join(dataDir, "kiana.db") });
  const ex = createExampleStore({ db: store.db });
  for (const e of examples) ex.add("wake", e.x, e.y, "confirmed");
  store.close();
}

const modelOf = (file: string) => {
  const bytes = new Uint8Array(readFileSync(file));
  const d = decodeModel(bytes, P);
  if (!d.ok) throw new Error(`${file}: ${d.reason}`);
  return { ...d, hash: sha256Hex(bytes) };
};

beforeAll(async () => {
  const data = await buildWakeDataset();
  const ex = (e: (typeof data)[number]): Example => ({ x: wakeFeatures(e.window), y: e.label });
  households = [0, 1].map((h) => data.filter((e) => e.household === h).map(ex));
  testSet = data.filter((e) => e.household < 0).map(ex);
  hosts = createKianaHosts(3, "kf");
  lan = hosts.lan;
}, 180_000);

afterAll(async () => {
  await hosts?.teardown();
});

test("a hub and two nodes train the wake verifier over the mesh to central accuracy; releases reach the chain and every node; no example crosses", async () => {
  const authority = testFleet("home", Date.now());
  const hubData = enrolledDataDir(authority, "hub", "hub");
  const nodeData = [
    enrolledDataDir(authority, "attic", "node"),
    enrolledDataDir(authority, "cellar", "node"),
  ];
  for (const [k, d] of nodeData.entries()) seed(d, households[k] as Example[]);

  const hub = start(0, hubData, "hub");
  const nodes = nodeData.map((d, k) => start(k + 1, d, ["attic", "cellar"][k] as string));
  const all = [hub, ...nodes];
  const ready = (p: WatchedProcess) => p.lines.some((l) => l.msg === "fedavg ready");
  await waitFor("FedAvg to be ready on all three", () => all.every(ready), 45_000, all);

  // The sniffer, inside the hub's namespace, logs in as the hub (read access to the whole fleet tree).
  const sniffed = join(tempDir("kiana-sniff-"), "mqtt.bin");
  const password = readFileSync(join(hubData, "mosquitto", "hub.secret"), "utf8").trim();
  const sniffer = watch(
    lan.run(lan.hosts[0] as string, [
      ...[process.execPath, SNIFFER, "mqtt://127.0.0.1:1883", "hub", password, "kiana/v1/#", sniffed],
    ]),
  );
  hosts.track(sniffer);
  await waitFor("the sniffer to subscribe", () => sniffer.lines.some((l) => l.subscribed === true), 15_000, [
    sniffer,
  ]);

  const cli = { KIANA_DATA: hubData, KIANA_ADMIN_PORT: "8080", ...FEDAVG_ENV };
  const table: string[] = [];
  for (let r = 1; r <= ROUNDS; r++) {
    const res = await exec(
      0,
      [process.execPath, MAIN, "fedavg", "start-round", "--json", "--timeout", "90"],
      cli,
    );
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    const row = res.lines.at(-1) as {
      round: number;
      phase: string;
      participants: string[];
      accuracyBefore: number;
    };
    expect(row).toMatchObject({ round: r, phase: "released" });
    expect(row.participants).toHaveLength(2);
    const global = modelOf(join(hubData, "fedavg", "global.kfm"));
    expect(global.version).toBe(r);
    const acc = evaluate(spec, global.params, testSet).accuracy;
    table.push(`| ${r} | ${(row.accuracyBefore * 100).toFixed(1)} | ${(acc * 100).toFixed(1)} |`);
  }

  // Federated against central training on the union of the two households, same optimiser.
  const central = train(spec, initParams(spec, createRng(1)), households.flat(), {
    ...settingsFor(spec, { learningRate: LEARNING_RATE }),
    epochs: 10,
    seed: 1,
  });
  const centralAcc = evaluate(spec, central, testSet).accuracy;
  const final = modelOf(join(hubData, "fedavg", "global.kfm"));
  const fedAcc = evaluate(spec, final.params, testSet).accuracy;
  console.log(
    `three-process FedAvg, ${testSet.length} held-out clips: federated ${(fedAcc * 100).toFixed(1)} %, central ${(centralAcc * 100).toFixed(1)} %\n` +
      `| round | accuracy before (participants' data, %) | global model on the test set (%) |\n|---|---|---|\n${table.join("\n")}`,
  );
  expect(fedAcc).toBeGreaterThanOrEqual(centralAcc - 0.02);

  // Every node holds the released model, byte for byte, and its chain has every release by the hub.
  const received = (p: WatchedProcess) =>
    p.lines.some((l) => l.msg === "fedavg model received" && l.version === ROUNDS && l.hash === final.hash);
  await waitFor("both nodes to hold the last release", () => nodes.every(received), 20_000, all);
  for (const d of nodeData) expect(modelOf(join(d, "fedavg", "model.kfm")).hash).toBe(final.hash);
  const releasesOn = async (d: string) => {
    const out = await exec(
      0,
      [process.execPath, MAIN, "chain", "show", "--type", "model-release", "--json"],
      {
        KIANA_DATA: d,
        KIANA_LOG_FORMAT: "json",
      },
    );
    return out.lines.map((l) => ({ author: l.author, ...JSON.parse(l.text as string) }));
  };
  const hubReleases = await releasesOn(hubData);
  expect(hubReleases).toHaveLength(ROUNDS);
  expect(hubReleases.at(-1)).toMatchObject({ version: ROUNDS, hash: final.hash, task: "wake" });
  const hubFp = hubReleases[0]?.author as string;
  for (const d of nodeData) {
    let seen: Awaited<ReturnType<typeof releasesOn>> = [];
    for (let i = 0; i < 40 && seen.length < ROUNDS; i++, await Bun.sleep(500)) seen = await releasesOn(d);
    expect(seen.map((b) => b.version)).toEqual(hubReleases.map((b) => b.version));
    expect(seen.every((b) => b.author === hubFp)).toBe(true);
  }

  // What crossed: transfers carried only models (hub to nodes) and int8 updates (nodes to hub).
  const fedFiles = (p: WatchedProcess) =>
    p.lines.filter((l) => l.msg === "file received" && /^fedavg-/.test(l.name as string));
  const updateBytes = encodedBytes({ encoding: "int8", params: P, chunk: 256 });
  expect(fedFiles(hub).map((l) => l.bytes)).toEqual(Array(2 * ROUNDS).fill(updateBytes));
  // Each round's announcement (the incoming model) and release (the new one) reach each node.
  for (const n of nodes) {
    const sizes = fedFiles(n).map((l) => l.bytes);
    expect(sizes.length).toBeGreaterThanOrEqual(2 * ROUNDS - 1);
    expect(new Set(sizes)).toEqual(new Set([12 + 4 * P]));
  }
  sniffer.proc.kill("SIGTERM");
  await Promise.race([sniffer.proc.exited, Bun.sleep(3000)]);
  const messages = readSniffed(new Uint8Array(readFileSync(sniffed)));
  expect(messages.length).toBeGreaterThan(4 * ROUNDS);
  // One example's features are 6 KiB: no MQTT message was big enough to hold even one.
  const largest = Math.max(...messages.map((m) => m.payload.length));
  console.log(
    `MQTT while training: ${messages.length} messages, largest ${largest} bytes; update ${updateBytes} bytes`,
  );
  expect(largest).toBeLessThan(4 * WAKE_FEATURES);
  const everything = Buffer.concat(messages.map((m) => m.payload));
  for (const e of households.flat())
    expect(everything.indexOf(Buffer.from(e.x.buffer, e.x.byteOffset, 32))).toBe(-1);
}, 300_000);
