import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type IClientOptions, type MqttClient } from "mqtt";
import { isKianaError } from "../../errors.ts";
import { freeLoopbackPort, startTestBroker, type TestBroker } from "./mosquitto.test-helper.ts";
import { aclFile, type MosquittoConfigOptions, mosquittoConfig } from "./mosquitto-config.ts";
import { startMosquitto } from "./mosquitto-process.ts";
import { passwordFileLine, verifyPasswordLine } from "./password-file.ts";

const HUB = { username: "hub", password: "hub-pass-1" };
const DEV_A = { username: "dev-a", password: "a-pass-1", node: "node-a" };
const DEV_B = { username: "dev-b", password: "b-pass-1", node: "node-b" };
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const quiet = { info() {}, warn() {} };

const clients: MqttClient[] = [];
afterAll(async () => {
  for (const c of clients.splice(0)) await c.endAsync(true).catch(() => {});
});

/** Connects once (no reconnects); resolves with the client or rejects with the broker's refusal. */
function client(broker: TestBroker, o: IClientOptions): Promise<MqttClient> {
  const c = connect(broker.url, { reconnectPeriod: 0, connectTimeout: 3000, protocolVersion: 5, ...o });
  clients.push(c);
  return new Promise((resolve, reject) => {
    c.once("connect", () => resolve(c));
    c.once("error", reject);
    c.once("close", () => reject(new Error("closed before CONNACK")));
  });
}

async function until(what: string, fn: () => boolean, ms: number): Promise<void> {
  const end = performance.now() + ms;
  while (!fn()) {
    if (performance.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await Bun.sleep(10);
  }
}

let broker: TestBroker;
beforeAll(async () => {
  broker = await startTestBroker({ fleet: "f", hubs: [HUB], devices: [DEV_A, DEV_B] });
});
afterAll(async () => {
  await broker?.stop();
});

test("password lines have mosquitto_passwd's exact shape, and we verify lines mosquitto_passwd wrote", async () => {
  const ours = passwordFileLine("alice", "secret", { iterations: 101 });
  expect(ours).toMatch(/^alice:\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$/);
  expect(verifyPasswordLine(ours, "secret")).toBe(true);
  expect(verifyPasswordLine(ours, "Secret")).toBe(false);
  const dir = mkdtempSync(join(tmpdir(), "kiana-passwd-"));
  try {
    const file = join(dir, "pw");
    const proc = Bun.spawnSync(["mosquitto_passwd", "-c", "-b", file, "alice", "secret"], {
      env: { PATH: `${process.env.PATH}:/usr/bin:/usr/sbin` },
    });
    expect(proc.exitCode).toBe(0);
    const theirs = readFileSync(file, "utf8").trim();
    expect(theirs.split("$").slice(0, 2)).toEqual(ours.split("$").slice(0, 2));
    expect(verifyPasswordLine(theirs, "secret")).toBe(true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("mosquitto accepts our hashed passwords and refuses a wrong one and anonymous clients", async () => {
  const ok = await client(broker, { username: DEV_A.username, password: DEV_A.password, clientId: "pw-ok" });
  expect(ok.connected).toBe(true);
  const wrong = await client(broker, {
    username: DEV_A.username,
    password: "nope",
    clientId: "pw-bad",
  }).catch((e: Error) => e);
  expect(String(wrong)).toMatch(/Not authorized|Bad User Name or Password/i);
  const anon = await client(broker, { clientId: "pw-anon" }).catch((e: Error) => e);
  expect(anon).toBeInstanceOf(Error);
  expect(String(anon)).toMatch(/Not authorized|Bad User Name or Password/i);
}, 10_000);

test("ACL: device A cannot publish under device B's topic, but can under its own", async () => {
  const hub = await client(broker, { ...HUB, clientId: "acl-hub" });
  const seen: string[] = [];
  hub.on("message", (topic, payload) => seen.push(`${topic}=${text(payload)}`));
  await hub.subscribeAsync("kiana/v1/f/#", { qos: 1 });
  const a = await client(broker, { username: DEV_A.username, password: DEV_A.password, clientId: "acl-a" });
  // Published in this order by one client: once the allowed one arrives, the forbidden one had its chance.
  const forged = await a.publishAsync("kiana/v1/f/node-b/cmd", "forged", { qos: 1 }).catch((e: Error) => e);
  expect(String(forged)).toContain("Not authorized"); // MQTT 5: the broker says so in the PUBACK
  await a.publishAsync("kiana/v1/f/node-a/status", "mine", { qos: 1 });
  await until("A's own message", () => seen.length > 0, 3000);
  await Bun.sleep(50);
  expect(seen).toEqual(["kiana/v1/f/node-a/status=mine"]);
}, 10_000);

test("reload (SIGHUP) picks up a device added to the password file and ACL", async () => {
  const dev = { username: "dev-c", password: "c-pass-1", node: "node-c" };
  const before = await client(broker, { ...dev, clientId: "late-1" }).catch((e: Error) => e);
  expect(before).toBeInstanceOf(Error);
  broker.setUsers([DEV_A, DEV_B, dev], [HUB]);
  let after: MqttClient | undefined;
  for (let i = 0; i < 40 && !after; i++) {
    after = await client(broker, { ...dev, clientId: `late-${i + 2}` }).catch(() => undefined);
    if (!after) await Bun.sleep(25);
  }
  expect(after?.connected).toBe(true);
}, 10_000);

test("config values that could inject mosquitto config lines are refused", () => {
  const base: MosquittoConfigOptions = {
    listener: { host: "127.0.0.1", port: 1883 },
    dataDir: "/var/lib/kiana/mosquitto",
    passwordFile: "/etc/kiana/mosquitto/passwd",
    aclFile: "/etc/kiana/mosquitto/acl",
    persistence: true,
  };
  const text = mosquittoConfig(base);
  expect(text).toContain("allow_anonymous false\n");
  expect(text).toContain("listener 1883 127.0.0.1\n");
  const bridge = { name: "up", address: "10.0.0.5:1883", username: "site-a", password: "pw", fleet: "f" };
  const attempts: (() => string)[] = [
    () => mosquittoConfig({ ...base, passwordFile: "/tmp/p\nallow_anonymous true" }),
    () => mosquittoConfig({ ...base, aclFile: "relative/acl" }),
    () => mosquittoConfig({ ...base, listener: { host: "127.0.0.1\nlistener 1884", port: 1883 } }),
    () => mosquittoConfig({ ...base, listener: { host: "127.0.0.1", port: 70000 } }),
    () => mosquittoConfig({ ...base, bridge: { ...bridge, password: "pw\ntopic # both 0" } }),
    () => mosquittoConfig({ ...base, bridge: { ...bridge, address: "h:1883 evil:1" } }),
    () => mosquittoConfig({ ...base, bridge: { ...bridge, fleet: "#" } }),
    () => mosquittoConfig({ ...base, bridge: { ...bridge, name: "up\nconnection x" } }),
    () =>
      aclFile({ fleet: "f", devices: [{ username: "x", node: "a\nuser hub", role: "node" }], hubUsers: [] }),
    () =>
      aclFile({ fleet: "f", devices: [{ username: "x\ntopic #", node: "a", role: "node" }], hubUsers: [] }),
    () => aclFile({ fleet: "f", devices: [{ username: "x", node: "+", role: "node" }], hubUsers: [] }),
    () => aclFile({ fleet: "f/#", devices: [], hubUsers: ["hub"] }),
    () => aclFile({ fleet: "f", devices: [{ username: "hub", node: "a", role: "node" }], hubUsers: ["hub"] }),
    () => passwordFileLine("a:b", "pw"),
    () => passwordFileLine("a\nb", "pw"),
  ];
  for (const attempt of attempts) {
    let err: unknown;
    try {
      attempt();
    } catch (e) {
      err = e;
    }
    expect(isKianaError(err, "BROKER_CONFIG_INVALID")).toBe(true);
  }
});

test("startMosquitto: a missing binary and a taken port give clear errors", async () => {
  const dir = mkdtempSync(join(tmpdir(), "kiana-mosq-err-"));
  const config = (port: number): MosquittoConfigOptions => ({
    listener: { host: "127.0.0.1", port },
    dataDir: join(dir, "data"),
    passwordFile: join(dir, "passwd"),
    aclFile: join(dir, "acl"),
    persistence: false,
  });
  try {
    const missing = await startMosquitto({
      configDir: dir,
      config: config(freeLoopbackPort()),
      log: quiet,
      mosquittoPath: "/nonexistent/mosquitto",
    }).catch((e: unknown) => e);
    expect(isKianaError(missing, "BROKER_BINARY_MISSING")).toBe(true);
    expect(String((missing as Error).message)).toContain("install the Debian package mosquitto");

    const taken = await startMosquitto({ configDir: dir, config: config(broker.port), log: quiet }).catch(
      (e: unknown) => e,
    );
    expect(isKianaError(taken, "BROKER_PORT_IN_USE")).toBe(true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 10_000);

test("bridge: site A's mosquitto bridged to upstream B carries the fleet's messages both ways", async () => {
  const link = { username: "site-a-link", password: "link-pass-1" };
  const upstream = await startTestBroker({ fleet: "f", hubs: [link], devices: [DEV_B] });
  let site: TestBroker | undefined;
  try {
    site = await startTestBroker({
      fleet: "f",
      devices: [DEV_A],
      bridge: { name: "upstream", address: `127.0.0.1:${upstream.port}`, ...link, fleet: "f" },
    });
    const atA = await client(site, { username: DEV_A.username, password: DEV_A.password, clientId: "br-a" });
    const atB = await client(upstream, {
      username: DEV_B.username,
      password: DEV_B.password,
      clientId: "br-b",
    });
    const gotA: string[] = [];
    const gotB: string[] = [];
    atA.on("message", (t, p) => gotA.push(`${t}=${text(p)}`));
    atB.on("message", (t, p) => gotB.push(`${t}=${text(p)}`));
    await atA.subscribeAsync("kiana/v1/f/node-b/#", { qos: 1 });
    await atB.subscribeAsync("kiana/v1/f/node-a/#", { qos: 1 });
    // The bridge connects on its own schedule: publish until something crosses (bounded).
    for (let i = 0; i < 100 && (gotA.length === 0 || gotB.length === 0); i++) {
      if (gotB.length === 0) await atA.publishAsync("kiana/v1/f/node-a/hello", `from-a-${i}`, { qos: 1 });
      if (gotA.length === 0) await atB.publishAsync("kiana/v1/f/node-b/hello", `from-b-${i}`, { qos: 1 });
      await Bun.sleep(50);
    }
    expect(gotB[0]).toStartWith("kiana/v1/f/node-a/hello=from-a-");
    expect(gotA[0]).toStartWith("kiana/v1/f/node-b/hello=from-b-");
  } finally {
    await site?.stop();
    await upstream.stop();
  }
}, 15_000);
