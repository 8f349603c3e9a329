import { expect, test } from "bun:test";
import { certificateFingerprint } from "../../identity/enrolment.ts";
import { createMemoryBus } from "../../mesh/adapters/memory.ts";
import { openEnvelope, sealEnvelope } from "../../mesh/envelope.ts";
import { createMemoryReplayGuard } from "../../mesh/replay-guard.ts";
import { pullFrom } from "./initiator.ts";
import { createMemoryPeerScores } from "./memory-ports.ts";
import { createMqttSyncLinks, MQTT_BATCH_BYTES } from "./mqtt-link.ts";
import { serveSync } from "./responder.ts";
import { appendMany, digestOf, type FleetNode, makeFleet } from "./sync-node.test-helper.ts";

test("two devices sync through the broker's topics when they cannot reach each other directly", async () => {
  const fleet = makeFleet(["hub", "attic"]);
  const [hub, attic] = fleet.nodes as [FleetNode, FleetNode];
  appendMany(hub, 700, 100, 600);
  const bus = createMemoryBus();
  const roster = new Map(fleet.nodes.map((n) => [certificateFingerprint(n.cert), n.cert]));
  let seq = 0;
  const links = (n: FleetNode) =>
    createMqttSyncLinks({
      transport: bus.connect(),
      fleet: fleet.authority.fleetId,
      me: n.name,
      seal: (type, body) => sealEnvelope({ keys: n.keys, seq: ++seq, now: fleet.clock.now(), type, body }),
      open: (() => {
        const replay = createMemoryReplayGuard();
        return (bytes: Uint8Array) =>
          openEnvelope(bytes, {
            roster: (fp) => roster.get(fp),
            fleetPublicKey: fleet.authority.publicKey,
            now: fleet.clock.now(),
            replay,
          });
      })(),
      serve: (port) =>
        serveSync(port, { store: n.store, authors: n.authors, batchBytes: MQTT_BATCH_BYTES, idleMs: 2000 }),
    });
  const hubLinks = links(hub);
  const atticLinks = links(attic);
  await hubLinks.start();
  await atticLinks.start();

  const pull = () =>
    pullFrom({
      port: atticLinks.connect("hub", hub.fp),
      peer: hub.fp,
      store: attic.store,
      authors: attic.authors,
      scores: createMemoryPeerScores(),
      checkCertificate: fleet.checkCertificate,
      timeoutMs: 2000,
    });
  const first = await pull();
  expect(first).toMatchObject({ received: 700, refused: [], roundTrips: 2 });
  expect(digestOf(attic)).toBe(digestOf(hub));
  expect(await pull()).toMatchObject({ inSync: true, roundTrips: 1 });

  // Everything on the wire was a signed envelope on the sender's own topic; nothing else.
  const topics = new Set(bus.log.map((m) => m.topic));
  expect([...topics].sort()).toEqual([
    `kiana/v1/${fleet.authority.fleetId}/attic/chain-sync/hub`,
    `kiana/v1/${fleet.authority.fleetId}/hub/chain-sync/attic`,
  ]);
  expect(bus.log.every((m) => m.payload.length <= 256 * 1024 + 200)).toBe(true);
  await hubLinks.stop();
  await atticLinks.stop();
});

test("a message whose topic names another sender than its signature is refused", async () => {
  const fleet = makeFleet(["hub", "attic"]);
  const [hub, attic] = fleet.nodes as [FleetNode, FleetNode];
  const bus = createMemoryBus();
  const refused: string[] = [];
  const roster = new Map(fleet.nodes.map((n) => [certificateFingerprint(n.cert), n.cert]));
  const hubLinks = createMqttSyncLinks({
    transport: bus.connect(),
    fleet: fleet.authority.fleetId,
    me: "hub",
    seal: () => new Uint8Array(),
    open: (bytes) =>
      openEnvelope(bytes, {
        roster: (fp) => roster.get(fp),
        fleetPublicKey: fleet.authority.publicKey,
        now: fleet.clock.now(),
        replay: createMemoryReplayGuard(),
      }),
    serve: () => Promise.resolve(),
    onRefused: (r) => refused.push(r),
  });
  await hubLinks.start();
  const forged = sealEnvelope({
    keys: attic.keys,
    seq: 1,
    now: fleet.clock.now(),
    type: "chain.sync",
    body: new Uint8Array(20),
  });
  await bus.connect().publish(`kiana/v1/${fleet.authority.fleetId}/kitchen/chain-sync/hub`, forged);
  await bus
    .connect()
    .publish(`kiana/v1/${fleet.authority.fleetId}/attic/chain-sync/hub`, new Uint8Array([1, 2, 3]));
  expect(refused).toHaveLength(2);
  expect(refused[0]).toContain("malformed chain-sync message from attic");
  expect(refused[1]).toContain("malformed");
  expect(hubLinks.sessions()).toEqual({ serving: 0, pulling: 0 });
  void hub;
});
