import { afterAll, describe, expect, test } from "bun:test";
import { pullFrom } from "./initiator.ts";
import { createMemoryPeerScores } from "./memory-ports.ts";
import { serveSync } from "./responder.ts";
import { appendMany, digestOf, type FleetNode, makeFleet } from "./sync-node.test-helper.ts";
import { connectWsSync, createWsSyncServer } from "./ws-link.ts";

describe("chain sync over a WebSocket on loopback", () => {
  const fleet = makeFleet(["hub", "pi"]);
  const [hub, pi] = fleet.nodes as [FleetNode, FleetNode];
  appendMany(hub, 400, 50, 200);
  const refused: string[] = [];
  let enrolled = true;
  const sync = createWsSyncServer({
    serverFp: hub.fp,
    fleet: () =>
      enrolled ? { publicKey: fleet.authority.publicKey, fleetId: fleet.authority.fleetId } : undefined,
    now: () => fleet.clock.now(),
    serve: (port) => serveSync(port, { store: hub.store, authors: hub.authors }),
    onRefused: (reason) => refused.push(reason),
  });
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req, srv) => sync.upgrade(req, srv),
    websocket: sync.websocket,
  });
  afterAll(() => server.stop(true));
  const url = `http://127.0.0.1:${server.port}`;
  const me = (n: FleetNode) => ({ certificate: n.cert, sign: n.keys.sign });

  test("an enrolled device pulls the whole log, then finds itself in sync", async () => {
    const link = await connectWsSync(url, me(pi));
    expect(link.peer).toBe(hub.fp);
    const first = await pullFrom({
      port: link.port,
      peer: link.peer,
      store: pi.store,
      authors: pi.authors,
      scores: createMemoryPeerScores(),
      checkCertificate: fleet.checkCertificate,
    });
    expect(first).toMatchObject({ received: 400, refused: [], roundTrips: 2 });
    const again = await pullFrom({
      port: link.port,
      peer: link.peer,
      store: pi.store,
      authors: pi.authors,
      scores: createMemoryPeerScores(),
      checkCertificate: fleet.checkCertificate,
    });
    expect(again).toMatchObject({ inSync: true, roundTrips: 1 });
    link.port.close();
    expect(digestOf(pi)).toBe(digestOf(hub));
  });

  test("a device of another fleet is refused with the reason, and nothing is served", async () => {
    const stranger = makeFleet(["x"]).nodes[0] as FleetNode;
    const link = await connectWsSync(url, me(stranger));
    await expect(
      pullFrom({
        port: link.port,
        peer: link.peer,
        store: stranger.store,
        authors: stranger.authors,
        scores: createMemoryPeerScores(),
        checkCertificate: fleet.checkCertificate,
      }),
    ).rejects.toThrow("closed the sync link");
    expect(link.closedBecause()).toMatch(/certificate (bad-signature|wrong-fleet)/);
    expect(refused.at(-1)).toMatch(/certificate/);
    expect(stranger.store.length(hub.fp)).toBe(0);
  });

  test("a device that has not joined a fleet answers 503 instead of upgrading", async () => {
    enrolled = false;
    const res = await fetch(`${url}/kiana/v1/chain/sync`);
    enrolled = true;
    expect(res.status).toBe(503);
    expect(await res.text()).toContain("enrolled");
  });
});
