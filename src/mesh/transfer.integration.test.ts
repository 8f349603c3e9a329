// Bulk transfers between real `kiana run` processes in network namespaces: the hub offers a 50 MB
// file through its admin API and each device fetches it over the one path it is configured with.
// Then a transfer over MQTT stalls when the hub's broker freezes, and resumes from its part file.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { testFleet } from "../identity/test-fleet.test-helper.ts";
import { enrolledDataDir } from "./enrolled-node.test-helper.ts";
import { createNetnsLan, type NetnsLan, type WatchedProcess, waitFor, watch } from "./netns.test-helper.ts";
import { writeTestFile } from "./transfer/transfer.test-helper.ts";

const MAIN = join(import.meta.dir, "..", "main.ts");
const ADMIN_CLIENT = join(import.meta.dir, "..", "admin", "admin-client.test-helper.ts");
const MB = 1024 * 1024;
let lan: NetnsLan;
/** The hub's mosquitto while the test holds it stopped. */
let frozen: number | undefined;
const procs: WatchedProcess[] = [];

function start(host: number, dataDir: string, name: string, paths: string): WatchedProcess {
  const p = watch(
    lan.run(lan.hosts[host] as string, [process.execPath, MAIN, "run"], {
      KIANA_DATA: dataDir,
      KIANA_NODE_NAME: name,
      KIANA_ADMIN_HOST: "0.0.0.0",
      KIANA_ADMIN_PORT: "8080",
      KIANA_BROKER_HOST: "0.0.0.0",
      KIANA_LOG_FORMAT: "json",
      KIANA_MESH_HEARTBEAT_SECONDS: "1",
      KIANA_MESH_TRANSFER_PATHS: paths,
      KIANA_ADMIN_METRICS_TOKEN: "metrics-test-token",
    }),
  );
  procs.push(p);
  return p;
}

beforeAll(() => {
  lan = createNetnsLan(4, "kx");
});

afterAll(async () => {
  if (frozen) process.kill(frozen, "SIGCONT");
  for (const p of procs) p.proc.kill("SIGTERM");
  await Promise.race([Promise.all(procs.map((p) => p.proc.exited)), Bun.sleep(5000)]);
  for (const p of procs) p.proc.kill("SIGKILL");
  lan?.teardown();
});

const received = (p: WatchedProcess) => p.lines.filter((l) => l.msg === "file received");
/** Set by the first test, used by the second. */
const state: {
  hubData?: string;
  kitchenData?: string;
  setupCode?: string;
  hub?: WatchedProcess;
  kitchen?: WatchedProcess;
} = {};

function offer(setupCode: string, bodies: object[]): WatchedProcess {
  return watch(
    lan.run(lan.hosts[0] as string, [
      process.execPath,
      ADMIN_CLIENT,
      "http://127.0.0.1:8080/",
      setupCode,
      "/api/v1/mesh/files",
      ...bodies.map((b) => JSON.stringify(b)),
    ]),
  );
}

test("a 50 MB file offered by the hub arrives intact over LAN HTTP, MQTT and a data channel", async () => {
  const authority = testFleet("home", Date.now());
  const hubData = enrolledDataDir(authority, "hub", "hub");
  const source = join(hubData, "model.onnx");
  const sha256 = await writeTestFile(source, 50 * MB, 3);
  const hub = start(0, hubData, "hub", "lan-http,datachannel,mqtt");
  const devices = [
    { name: "attic", path: "lan-http" },
    { name: "kitchen", path: "mqtt" },
    { name: "garage", path: "datachannel" },
  ].map((d, i) => {
    const dataDir = enrolledDataDir(authority, d.name, "node");
    return { ...d, dataDir, proc: start(i + 1, dataDir, d.name, d.path) };
  });
  const all = [hub, ...devices.map((d) => d.proc)];
  const ready = (p: WatchedProcess) => p.lines.some((l) => l.msg === "file transfers ready");
  const rosterOf = (p: WatchedProcess) =>
    (p.lines.filter((l) => l.msg === "roster changed").at(-1)?.roster as string[] | undefined) ?? [];
  await waitFor(
    "every device to join with file transfers ready",
    () => all.every(ready) && devices.every((d) => rosterOf(hub).includes(d.name)),
    30_000,
    all,
  );
  for (const d of devices)
    expect(d.proc.lines.find((l) => l.msg === "file transfers ready")?.paths).toEqual([d.path]);

  const setupCode = /setup code: (\S+)/.exec(hub.stderr())?.[1] ?? "";
  const t0 = performance.now();
  const client = offer(setupCode, [
    ...devices.map((d) => ({ to: d.name, path: source })),
    { to: "nobody", path: source },
  ]);
  await client.proc.exited;
  expect(client.lines.map((l) => l.status)).toEqual([202, 202, 202, 404]);
  expect(client.lines[0]).toMatchObject({ setup: 303, body: { bytes: 50 * MB, sha256 } });

  await waitFor(
    "every device to receive the file",
    () => devices.every((d) => received(d.proc).length > 0),
    40_000,
    all,
  );
  const seconds = (performance.now() - t0) / 1000;
  for (const d of devices) {
    const got = received(d.proc)[0];
    expect(got).toMatchObject({ from: "hub", name: "model.onnx", bytes: 50 * MB, sha256, path: d.path });
    const file = got?.file as string;
    expect(file).toBe(join(d.dataDir, "received", "model.onnx"));
    const onDisk = new Bun.CryptoHasher("sha256").update(await Bun.file(file).arrayBuffer()).digest("hex");
    expect(onDisk).toBe(sha256);
  }
  console.log(`three 50 MB transfers in ${seconds.toFixed(1)} s`);

  // The receiver's /metrics counts the transfer (fetched inside its namespace with the bearer token).
  const scrape = lan.run(lan.hosts[1] as string, [
    process.execPath,
    "-e",
    'const r = await fetch("http://127.0.0.1:8080/metrics", { headers: { authorization: "Bearer metrics-test-token" } }); console.log(await r.text());',
  ]);
  const metrics = await new Response(scrape.stdout).text();
  expect(metrics).toContain('kiana_mesh_transfers_total{event="received"} 1');
  expect(metrics).toContain(`kiana_mesh_transfers_total{event="receivedBytes"} ${50 * MB}`);
  Object.assign(state, {
    hubData,
    setupCode,
    hub,
    kitchen: devices[1]?.proc,
    kitchenData: devices[1]?.dataDir,
  });
}, 90_000);

test("an MQTT transfer whose broker freezes half-way is given up as stalled, then resumes from its part file", async () => {
  const { hubData, kitchenData, setupCode, hub, kitchen } = state;
  if (!hubData || !kitchenData || !setupCode || !hub || !kitchen)
    throw new Error("the first test did not run");
  const source = join(hubData, "second.bin");
  const sha256 = await writeTestFile(source, 50 * MB, 9);
  const part = join(kitchenData, "received", "second.bin.part");
  const mark = kitchen.lines.length;
  const client = offer(setupCode, [{ to: "kitchen", path: source }]);
  await client.proc.exited;
  expect(client.lines.map((l) => l.status)).toEqual([202]);
  await waitFor("the kitchen's part file to grow past 5 MB", () => Bun.file(part).size > 5 * MB, 20_000, [
    kitchen,
    hub,
  ]);
  // Frozen, not killed: the flow stops without a disconnect, which only the stall watch can notice.
  const pid = Number(
    Bun.spawnSync(["pgrep", "-f", `${hubData}/mosquitto/mosquitto.conf`])
      .stdout.toString()
      .trim()
      .split("\n")[0],
  );
  expect(pid).toBeGreaterThan(0);
  process.kill(pid, "SIGSTOP");
  frozen = pid;
  try {
    await waitFor(
      "the kitchen to give up on the stalled attempt",
      () => kitchen.lines.slice(mark).some((l) => l.msg === "file transfer failed"),
      20_000,
      [kitchen, hub],
    );
  } finally {
    process.kill(pid, "SIGCONT");
    frozen = undefined;
  }
  const done = () =>
    kitchen.lines.slice(mark).find((l) => l.msg === "file received" && l.name === "second.bin");
  await waitFor("the kitchen to receive second.bin", () => done() !== undefined, 40_000, [kitchen, hub]);
  const got = done();
  expect(got).toMatchObject({ from: "hub", bytes: 50 * MB, sha256, path: "mqtt" });
  const tried = got?.tried as { from: number; to: number; code?: string }[];
  const [first, ...rest] = tried;
  expect(first).toMatchObject({ path: "mqtt", from: 0, code: "TRANSFER_STALLED" });
  expect(first?.to).toBeGreaterThan(5 * MB);
  expect(first?.to).toBeLessThan(50 * MB);
  // Each later attempt starts where the one before stopped: nothing already on disk is fetched again.
  expect(rest.length).toBeGreaterThan(0);
  for (let i = 1; i < tried.length; i++) expect(tried[i]?.from).toBe(tried[i - 1]?.to ?? -1);
  const file = join(kitchenData, "received", "second.bin");
  const onDisk = new Bun.CryptoHasher("sha256").update(await Bun.file(file).arrayBuffer()).digest("hex");
  expect(onDisk).toBe(sha256);
  console.log(`resumed after the broker froze: ${JSON.stringify(tried)}`);
}, 60_000);
