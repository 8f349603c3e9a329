import { afterAll, describe, expect, test } from "bun:test";
import { pullFrom } from "./initiator.ts";
import type { LinkFleet, LinkIdentity } from "./link-auth.ts";
import { createMemoryPeerScores } from "./memory-ports.ts";
import { serveSync } from "./responder.ts";
import { appendMany, digestOf, type FleetNode, makeFleet } from "./sync-node.test-helper.ts";
import { CHAIN_SYNC_ROUTE, connectWsSync, createWsSyncServer } from "./ws-link.ts";

const servers: { stop(force: boolean): void }[] = [];
afterAll(() => {
  for (const s of servers) s.stop(true);
});

describe("chain sync over a WebSocket on loopback", () => {
  const fleet = makeFleet(["hub", "pi"]);
  const [hub, pi] = fleet.nodes as [FleetNode, FleetNode];
  const stranger = makeFleet(["x"]).nodes[0] as FleetNode;
  appendMany(hub, 400, 50, 200);
  const refused: string[] = [];
  let enrolled = true;
  const home: LinkFleet = { publicKey: fleet.authority.publicKey, fleetId: fleet.authority.fleetId };
  const me = (n: FleetNode): LinkIdentity => ({ certificate: n.cert, sign: n.keys.sign });
  const now = () => fleet.clock.now();

  /** A sync server for `hub`'s log that proves itself as `identity` says. */
  function serverAs(identity: LinkIdentity, fleetOf: LinkFleet = home) {
    const sync = createWsSyncServer({
      serverFp: hub.fp,
      fleet: () => (enrolled ? fleetOf : undefined),
      identity: () => identity,
      now,
      serve: (port) => serveSync(port, { store: hub.store, authors: hub.authors }),
      onRefused: (reason) => refused.push(reason),
    });
    const server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (req, srv) => sync.upgrade(req, srv),
      websocket: sync.websocket,
    });
    servers.push(server);
    return `http://127.0.0.1:${server.port}`;
  }
  const url = serverAs(me(hub));

  test("an enrolled device pulls the whole log, then finds itself in sync", async () => {
    const link = await connectWsSync(url, me(pi), { fleet: home, now, server: hub.fp });
    expect(link.peer).toBe(hub.fp);
    const pull = () =>
      pullFrom({
        port: link.port,
        peer: link.peer,
        store: pi.store,
        authors: pi.authors,
        scores: createMemoryPeerScores(),
        checkCertificate: fleet.checkCertificate,
      });
    expect(await pull()).toMatchObject({ received: 400, refused: [], roundTrips: 2 });
    expect(await pull()).toMatchObject({ inSync: true, roundTrips: 1 });
    link.port.close();
    expect(digestOf(pi)).toBe(digestOf(hub));
  });

  test("a device of another fleet is refused by the server with the reason, and nothing is served", async () => {
    // The stranger is told to trust this fleet, so it is the server that refuses it.
    const link = await connectWsSync(url, me(stranger), { fleet: home, now });
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
    const res = await fetch(`${url}${CHAIN_SYNC_ROUTE}`);
    enrolled = true;
    expect(res.status).toBe(503);
    expect(await res.text()).toContain("enrolled");
  });

  test("a client without its nonce is answered 400 with the reason", async () => {
    const res = await fetch(`${url}${CHAIN_SYNC_ROUTE}`, { headers: { upgrade: "websocket" } });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("no nonce");
  });

  describe("the client refuses a server that does not prove itself", () => {
    const connect = (at: string, server?: string) =>
      connectWsSync(at, me(pi), { fleet: home, now, server, timeoutMs: 5000 });

    test("another fleet's certificate", async () => {
      await expect(connect(serverAs(me(stranger)))).rejects.toThrow(
        /refused the sync server at .*: the server's certificate (bad-signature|wrong-fleet)/,
      );
    });

    test("the right certificate signed with the wrong key", async () => {
      const impostor = serverAs({ certificate: hub.cert, sign: stranger.keys.sign });
      await expect(connect(impostor, hub.fp)).rejects.toThrow(
        "the server's proof is not signed over this link's nonce by its certificate's key",
      );
    });

    test("an enrolled device that is not the peer dialled", async () => {
      await expect(connect(url, pi.fp)).rejects.toThrow(
        `the server is ${hub.fp}, not the peer ${pi.fp} dialled`,
      );
    });

    test("a challenge recorded from the real server and replayed", async () => {
      const recorded = Promise.withResolvers<Uint8Array>();
      const ws = new WebSocket(
        `${url.replace("http", "ws")}${CHAIN_SYNC_ROUTE}?nonce=${"ab".repeat(32)}&fp=${pi.fp}`,
      );
      ws.binaryType = "arraybuffer";
      ws.onmessage = (ev) => recorded.resolve(new Uint8Array(ev.data as ArrayBuffer));
      const frame = await recorded.promise;
      ws.close();
      const replayer = Bun.serve({
        hostname: "127.0.0.1",
        port: 0,
        fetch: (req, srv) => (srv.upgrade(req) ? undefined : new Response("no", { status: 400 })),
        websocket: { open: (s) => void s.send(frame), message() {} },
      });
      servers.push(replayer);
      await expect(connect(`http://127.0.0.1:${replayer.port}`, hub.fp)).rejects.toThrow(
        "the server's proof is not signed over this link's nonce",
      );
    });
  });
});
