// Device commands through a real mosquitto with the fleet's ACL: the hub's assistant publishes,
// the node that owns the device receives the command on its own subtree.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createMqttTransport, type MqttTransport } from "../mesh/adapters/mqtt.ts";
import { startTestBroker, type TestBroker } from "../mesh/broker/mosquitto.test-helper.ts";
import { createAssistant } from "./assistant.ts";

const HUB = { username: "hub", password: "hub-secret-1" };
const PI = { username: "bedroom-pi", password: "bedroom-secret-1", node: "bedroom-pi" };
let broker: TestBroker;
const open: MqttTransport[] = [];

function transport(user: { username: string; password: string }, node: string): MqttTransport {
  const t = createMqttTransport({ url: broker.url, ...user, fleet: "home", node, presence: false });
  open.push(t);
  return t;
}

beforeAll(async () => {
  broker = await startTestBroker({ fleet: "home", hubs: [HUB], devices: [PI] });
});
afterAll(async () => {
  for (const t of open.splice(0)) await t.close().catch(() => {});
  await broker?.stop();
});

test("turning a device on reaches the node that owns it, as the documented topic and payload", async () => {
  const hub = transport(HUB, "hub");
  const pi = transport(PI, "bedroom-pi");
  await Promise.all([hub.ready(), pi.ready()]);
  const got: [string, string][] = [];
  await pi.subscribe("kiana/v1/home/bedroom-pi/device/+/set", (topic, payload) =>
    got.push([topic, new TextDecoder().decode(payload)]),
  );
  const assistant = createAssistant({
    devices: [{ name: "bedroom fan", id: "fan", node: "bedroom-pi" }],
    fleet: "home",
    node: "hub",
    publish: (topic, payload) => hub.publish(topic, new TextEncoder().encode(payload)),
  });
  const r = await assistant.handle("turn on the bedroom fan");
  expect(r).toMatchObject({ intent: "device.set", ok: true, reply: "Okay, turning on the bedroom fan." });
  const end = performance.now() + 5000;
  while (got.length === 0 && performance.now() < end) await Bun.sleep(10);
  expect(got).toEqual([["kiana/v1/home/bedroom-pi/device/fan/set", '{"state":"on"}']]);
});
