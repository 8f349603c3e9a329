import { afterEach, expect, test } from "bun:test";
import { enrolNode, tempDir, testFleet } from "../identity/test-fleet.test-helper.ts";
import { createLogger } from "../platform/log.ts";
import { createMqttTransport, type MqttTransport } from "./adapters/mqtt.ts";
import { createHubBroker, type HubBroker } from "./broker/hub-broker.ts";
import { freeLoopbackPort } from "./broker/mosquitto.test-helper.ts";
import { handleJoin, JOIN_PATH, joinHub } from "./join.ts";
import { createMemoryReplayGuard } from "./replay-guard.ts";

const log = createLogger({ write: () => {} });
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => {});
});

function setup() {
  const authority = testFleet("home", Date.now());
  const hub = enrolNode(authority, "hub", { role: "hub", now: Date.now() });
  const refused: string[] = [];
  return { authority, hub, refused };
}

async function startHub(
  h: ReturnType<typeof setup>,
): Promise<{ broker: HubBroker; port: number; fetch: typeof fetch }> {
  const broker = createHubBroker({
    dataDir: tempDir("kiana-hub-"),
    fleet: "home",
    hub: { node: "hub", fingerprint: h.hub.fp, keys: h.hub.keys },
    listen: { host: "127.0.0.1", port: await freeLoopbackPort() },
    managed: true,
    log,
    runAsUser: "root",
  });
  const { port } = await broker.start();
  cleanup.push(() => broker.stop());
  const replay = createMemoryReplayGuard();
  // The hub's HTTP route, called in-process: same bytes in, same JSON out.
  const fetchStub = (async (url: URL | string, init?: RequestInit) => {
    expect(new URL(url).pathname).toBe(JOIN_PATH);
    const body = new Uint8Array(await new Response(init?.body).arrayBuffer());
    const answer = handleJoin(body, {
      fleet: h.authority,
      revoked: new Set(),
      replay,
      now: Date.now,
      hubCertificate: h.hub.cert,
      brokerPort: port,
      admit: (cert) => broker.admit(cert),
      onRefused: (_from, reason) => h.refused.push(reason),
    });
    return Response.json(answer.json, { status: answer.status });
  }) as typeof fetch;
  return { broker, port, fetch: fetchStub };
}

test("an enrolled device joins the hub, gets a derived broker login, and talks under its own topic", async () => {
  const h = setup();
  const { broker, fetch } = await startHub(h);
  const kitchen = enrolNode(h.authority, "kitchen", { role: "satellite", now: Date.now() });
  const login = await joinHub({
    hubUrl: "http://127.0.0.1:8080/",
    keys: kitchen.keys,
    certificate: kitchen.cert,
    fleet: h.authority,
    seq: 1,
    now: Date.now,
    fetch,
  });
  expect(login.username).toBe("kitchen");
  expect(broker.admitted().map((c) => c.name)).toEqual(["kitchen"]);

  const url = `mqtt://127.0.0.1:${login.port}`;
  const hubClient: MqttTransport = createMqttTransport({
    url,
    ...broker.hubLogin,
    fleet: "home",
    node: "hub",
    log,
  });
  const device: MqttTransport = createMqttTransport({
    url,
    username: login.username,
    password: login.password,
    fleet: "home",
    node: "kitchen",
    log,
  });
  cleanup.push(
    () => hubClient.close(),
    () => device.close(),
  );
  await Promise.all([hubClient.ready(), device.ready()]);
  const got: string[] = [];
  await hubClient.subscribe("kiana/v1/home/kitchen/hello", (_t, p) => got.push(new TextDecoder().decode(p)));
  await device.publish("kiana/v1/home/kitchen/hello", new TextEncoder().encode("hi hub"));
  for (let i = 0; i < 100 && got.length === 0; i++) await Bun.sleep(20);
  expect(got).toEqual(["hi hub"]);
}, 20_000);

test("the hub refuses a device from another fleet and a replayed join", async () => {
  const h = setup();
  const { broker, fetch } = await startHub(h);
  const stranger = enrolNode(testFleet("other", Date.now()), "kitchen", { now: Date.now() });
  await expect(
    joinHub({
      hubUrl: "http://127.0.0.1:1/",
      keys: stranger.keys,
      certificate: stranger.cert,
      fleet: h.authority,
      seq: 1,
      now: Date.now,
      fetch,
    }),
  ).rejects.toThrow(/refused to admit this device/);
  expect(broker.admitted()).toEqual([]);
  const member = enrolNode(h.authority, "attic", { now: Date.now() });
  const args = {
    hubUrl: "http://127.0.0.1:1/",
    keys: member.keys,
    certificate: member.cert,
    fleet: h.authority,
    now: Date.now,
    fetch,
  };
  await joinHub({ ...args, seq: 5 });
  await expect(joinHub({ ...args, seq: 5 })).rejects.toThrow(/replay/);
  expect(h.refused).toEqual(["unknown-sender", "replay"]);
}, 20_000);

test("a device does not trust a 'hub' whose certificate is not a hub's", async () => {
  const h = setup();
  const { fetch } = await startHub(h);
  const fakeHub = { ...h, hub: enrolNode(h.authority, "imposter", { role: "node", now: Date.now() }) };
  const { fetch: imposterFetch } = await startHub(fakeHub);
  void fetch;
  const dev = enrolNode(h.authority, "den", { now: Date.now() });
  await expect(
    joinHub({
      hubUrl: "http://127.0.0.1:1/",
      keys: dev.keys,
      certificate: dev.cert,
      fleet: h.authority,
      seq: 1,
      now: Date.now,
      fetch: imposterFetch,
    }),
  ).rejects.toThrow(/enrolled as node, not as a hub/);
}, 20_000);
