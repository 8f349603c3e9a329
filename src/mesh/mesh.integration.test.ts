// Three real `kiana run` processes in three network namespaces: the hub runs mosquitto, the others
// find it over real mDNS, join with their certificates and see each other in the roster. A device
// enrolled in another fleet is refused. Addresses exist only inside the namespaces this test makes.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { testFleet } from "../identity/test-fleet.test-helper.ts";
import { enrolledDataDir } from "./enrolled-node.test-helper.ts";
import { createKianaHosts, type KianaHosts } from "./kiana-hosts.test-helper.ts";
import type { NetnsLan, WatchedProcess } from "./netns.test-helper.ts";
import { waitFor, watch } from "./netns.test-helper.ts";

const MAIN = join(import.meta.dir, "..", "main.ts");
const ADMIN_CLIENT = join(import.meta.dir, "..", "admin", "admin-client.test-helper.ts");
let hosts: KianaHosts;
let lan: NetnsLan;

const start = (host: number, dataDir: string, name: string, extra: Record<string, string> = {}) =>
  hosts.start(host, dataDir, name, extra);

const rosterOf = (p: WatchedProcess) =>
  p.lines.filter((l) => l.msg === "roster changed").at(-1)?.roster as string[] | undefined;

beforeAll(() => {
  hosts = createKianaHosts(3, "km");
  lan = hosts.lan;
});

afterAll(async () => {
  await hosts?.teardown();
});

test("hub, node and satellite find each other over mDNS, join the hub's broker and share a roster; a stranger is refused", async () => {
  const authority = testFleet("home", Date.now());
  const hubData = enrolledDataDir(authority, "hub", "hub");
  // Knowledge the hub holds before the mesh forms: the other two must pull it over the LAN.
  for (const text of ["the spare key is under the blue pot", "recycling goes out on friday"]) {
    const appended = Bun.spawnSync([process.execPath, MAIN, "chain", "append", "--text", text], {
      env: { ...process.env, KIANA_DATA: hubData, KIANA_LOG_FORMAT: "json" },
    });
    expect(appended.exitCode).toBe(0);
  }
  const hub = start(0, hubData, "hub");
  const node = start(1, enrolledDataDir(authority, "attic", "node"), "attic");
  // The kitchen's HTTP listener is loopback-only: peers can reach its chain only through the broker.
  const kitchenData = enrolledDataDir(authority, "kitchen", "satellite");
  const noted = Bun.spawnSync(
    [process.execPath, MAIN, "chain", "append", "--text", "the kitchen timer beeps twice"],
    {
      env: { ...process.env, KIANA_DATA: kitchenData, KIANA_LOG_FORMAT: "json" },
    },
  );
  expect(noted.exitCode).toBe(0);
  const sat = start(2, kitchenData, "kitchen", { KIANA_ADMIN_HOST: "127.0.0.1" });
  const all = [hub, node, sat];

  const complete = (p: WatchedProcess) => {
    const r = rosterOf(p);
    const joined = p.lines.some((l) => l.msg === "joined the fleet's broker");
    return joined && !!r && ["attic", "hub", "kitchen"].every((n) => r.includes(n));
  };
  const ms = await waitFor(
    "all three rosters to list hub, attic and kitchen",
    () => all.every(complete),
    45_000,
    all,
  );
  expect(ms).toBeLessThan(45_000);

  // Heartbeats: every node sees the other two healthy.
  const health = (p: WatchedProcess) => {
    const m = new Map<string, unknown>();
    for (const l of p.lines) if (l.msg === "peer health") m.set(l.peer as string, l.state);
    return m;
  };
  const names = ["hub", "attic", "kitchen"];
  await waitFor(
    "every node to see the others healthy",
    () => all.every((p, i) => names.filter((_, j) => j !== i).every((n) => health(p).get(n) === "healthy")),
    15_000,
    all,
  );

  // The chain: attic and kitchen pull the hub's log from a peer's LAN address found through the
  // mesh (from the hub, or from whichever of the two got it first).
  const pulledFromHub = (p: WatchedProcess) =>
    p.lines.some(
      (l) => l.msg === "chain synced" && (l.received as number) >= 2 && (l.refused as unknown[]).length === 0,
    );
  await waitFor(
    "attic and kitchen to pull the hub's chain",
    () => pulledFromHub(node) && pulledFromHub(sat),
    15_000,
    all,
  );
  const fromKitchen = (p: WatchedProcess) =>
    p.lines.some((l) => l.msg === "chain synced" && l.peer === "kitchen" && (l.received as number) >= 1);
  await waitFor(
    "the kitchen's block to reach a peer through the broker",
    () => fromKitchen(hub) || fromKitchen(node),
    30_000,
    all,
  );

  // `kiana status` on the hub lists the two devices, with their namespace addresses.
  await Bun.sleep(2500);
  const status = lan.run(lan.hosts[0] as string, [process.execPath, MAIN, "status", "--json"], {
    KIANA_DATA: hubData,
    KIANA_ADMIN_PORT: "8080",
  });
  const report = JSON.parse(await new Response(status.stdout).text()) as {
    running: boolean;
    peers: { name: string; state: string; addresses: string[] }[];
  };
  expect(report.running).toBe(true);
  expect(report.peers.map((p) => [p.name, p.state])).toEqual([
    ["attic", "healthy"],
    ["kitchen", "healthy"],
  ]);
  expect(report.peers.find((p) => p.name === "attic")?.addresses).toContain(lan.addresses[1]);

  // An encrypted direct message from the hub's admin API reaches the kitchen satellite, once.
  const setupCode = /setup code: (\S+)/.exec(hub.stderr())?.[1] ?? "";
  const text = "dinner is ready";
  const client = watch(
    lan.run(lan.hosts[0] as string, [
      process.execPath,
      ADMIN_CLIENT,
      "http://127.0.0.1:8080/",
      setupCode,
      "/api/v1/mesh/messages",
      JSON.stringify({ to: "kitchen", text }),
    ]),
  );
  await client.proc.exited;
  expect(client.lines[0]).toMatchObject({ setup: 303, status: 202 });
  const digest = new Bun.CryptoHasher("sha256").update(text).digest("hex");
  await waitFor(
    "the kitchen to receive the direct message",
    () =>
      sat.lines.some((l) => l.msg === "direct message received" && l.sha256 === digest && l.from === "hub"),
    15_000,
    [sat, hub, client],
  );
  await Bun.sleep(1000);
  expect(sat.lines.filter((l) => l.msg === "direct message received")).toHaveLength(1);

  // mosquitto killed: the hub restarts it, every device reconnects and sees all three online again.
  const marks = all.map((p) => p.lines.length);
  const killed = Bun.spawnSync(["pkill", "-KILL", "-f", `${hubData}/mosquitto/mosquitto.conf`]);
  expect(killed.exitCode).toBe(0);
  const since = (p: WatchedProcess, i: number) => p.lines.slice(marks[i]);
  await waitFor(
    "every node to go offline and back online",
    () =>
      all.every((p, i) => {
        const states = since(p, i)
          .filter((l) => l.msg === "broker connection")
          .map((l) => l.state);
        return states.includes("offline") && states.at(-1) === "online";
      }),
    30_000,
    all,
  ).catch((err) => {
    console.error(
      JSON.stringify(
        since(hub, 0)
          .filter((l) => l.cap === "mesh")
          .slice(0, 30),
        null,
        0,
      ),
    );
    throw err;
  });
  expect(since(hub, 0).some((l) => l.msg === "mosquitto exited; restarting it")).toBe(true);
  const presence = (p: WatchedProcess) => {
    const m = new Map<string, unknown>();
    for (const l of p.lines) if (l.msg === "presence") m.set(l.node as string, l.state);
    return m;
  };
  await waitFor(
    "presence to converge on all three online",
    () => all.every((p) => ["hub", "attic", "kitchen"].every((n) => presence(p).get(n) === "online")),
    15_000,
    all,
  );

  // Enrolled in another fleet: the hub refuses it, it keeps retrying, and nobody lists it.
  const other = testFleet("other", Date.now());
  const stranger = start(2, enrolledDataDir(other, "intruder", "node"), "intruder", {
    KIANA_ADMIN_PORT: "8081",
    KIANA_MESH_HUB_URL: `http://${lan.addresses[0]}:8080/`,
  });
  await waitFor(
    "the stranger to be refused",
    () => stranger.lines.some((l) => typeof l.msg === "string" && /refused to admit this device/.test(l.msg)),
    20_000,
    [stranger, hub],
  );
  await Bun.sleep(500);
  for (const p of all) expect(rosterOf(p)).not.toContain("intruder");
}, 90_000);
