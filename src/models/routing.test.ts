// Which peer answers a model request: the ranking and the route decision as tables, and the
// advertisement's way from one node's heartbeat to another's choice.
import { describe, expect, test } from "bun:test";
import type { Certificate } from "../identity/enrolment.ts";
import { enrolNode, type TestNode, testFleet } from "../identity/test-fleet.test-helper.ts";
import { createMemoryBus } from "../mesh/adapters/memory.ts";
import { openEnvelope, sealEnvelope } from "../mesh/envelope.ts";
import { advertisable, createHeartbeat, encodeHeartbeat, parseHeartbeat } from "../mesh/heartbeat.ts";
import { createPeerTable, type PeerModel } from "../mesh/peers.ts";
import { createMemoryReplayGuard } from "../mesh/replay-guard.ts";
import { createManualClock } from "../platform/clock.ts";
import { createLogger } from "../platform/log.ts";
import { choosePeer, type LocalState, peerBaseUrl, type RoutablePeer, shouldRoute } from "./routing.ts";

const peer = (name: string, over: Partial<RoutablePeer> = {}): RoutablePeer => ({
  name,
  role: "node",
  fingerprint: `fp-${name}`,
  state: "healthy",
  addresses: ["10.0.0.9"],
  adminPort: 8470,
  models: [{ name: "llama-8b", loaded: true }],
  ...over,
});
const has = (tokensPerSecond?: number, loaded = true) => ({
  models: [{ name: "llama-8b", loaded, ...(tokensPerSecond === undefined ? {} : { tokensPerSecond }) }],
});

describe("choosePeer", () => {
  test.each<[string, RoutablePeer[], string | undefined]>([
    ["nobody around", [], undefined],
    ["a hub beats a faster node", [peer("fast", has(40)), peer("hub", { role: "hub", ...has(5) })], "hub"],
    ["then the highest tokens per second", [peer("a", has(8)), peer("b", has(21)), peer("c", has(13))], "b"],
    ["a measured peer beats an unmeasured one", [peer("a", has()), peer("b", has(0.5))], "b"],
    ["then the name, so the choice is stable", [peer("zed", has(9)), peer("amy", has(9))], "amy"],
    [
      "installed but not loaded is no candidate",
      [peer("cold", has(50, false)), peer("warm", has(2))],
      "warm",
    ],
    [
      "another model loaded is no candidate",
      [peer("x", { models: [{ name: "phi", loaded: true }] })],
      undefined,
    ],
    ["no advertisement at all (an older version)", [peer("old", { models: undefined })], undefined],
    [
      "degraded or failed peers are skipped",
      [peer("d", { state: "degraded" }), peer("f", { state: "failed" })],
      undefined,
    ],
    ["discovered-only devices are skipped", [peer("m", { state: "discovered" })], undefined],
    ["broker presence counts as up", [peer("p", { state: "online" })], "p"],
    [
      "no address, no port: unreachable",
      [peer("a", { addresses: [] }), peer("b", { adminPort: 0 })],
      undefined,
    ],
    ["a hub that is down loses to a node", [peer("hub", { role: "hub", state: "failed" }), peer("n")], "n"],
  ])("%s", (_, peers, want) => {
    expect(choosePeer(peers, "llama-8b")?.name).toBe(want);
  });
});

describe("shouldRoute", () => {
  test.each<[LocalState, boolean, boolean, boolean]>([
    ["available", false, false, false],
    ["available", true, false, true],
    ["missing", false, false, true],
    ["does-not-fit", false, false, true],
    ["missing", false, true, false],
    ["does-not-fit", true, true, false],
    ["available", true, true, false],
  ])("local %s, forced %p, forwarded %p → %p", (local, configForce, forwarded, want) => {
    expect(shouldRoute({ local, configForce, forwarded })).toBe(want);
  });
});

test.each<[string[], number | undefined, string | undefined]>([
  [["fe80::2", "192.168.1.7"], 8470, "http://192.168.1.7:8470"],
  [["fd00::7"], 8470, "http://[fd00::7]:8470"],
  [[], 8470, undefined],
  [["10.0.0.1"], undefined, undefined],
])("peerBaseUrl(%p, %p) = %p", (addresses, adminPort, want) => {
  expect(peerBaseUrl(peer("p", { addresses, adminPort }))).toBe(want);
});

describe("the advertisement in heartbeats", () => {
  const body = { version: "1.0.0", adminPort: 8470, addresses: ["10.0.0.2"], ts: 5 };
  const parse = (v: unknown) => parseHeartbeat(new TextEncoder().encode(JSON.stringify(v)));

  test("a hub's heartbeat reaches another node's peer table, and the choice follows it", async () => {
    const authority = testFleet("home");
    const roster = new Map<string, Certificate>();
    const enrol = (name: string, role: "hub" | "node") => {
      const n = enrolNode(authority, name, { role });
      roster.set(n.fp, n.cert);
      return n;
    };
    const [hub, pi5, me] = [enrol("hub", "hub"), enrol("pi5", "node"), enrol("me", "node")];
    const bus = createMemoryBus();
    const clock = createManualClock();
    const table = createPeerTable({ clock });
    const guard = createMemoryReplayGuard();
    let seq = 0;
    const served = new Map<string, PeerModel[] | undefined>();
    const node = (who: TestNode) =>
      createHeartbeat({
        transport: bus.connect(),
        fleet: "home",
        self: { node: who.cert.name, fingerprint: who.fp },
        seal: (type, b) => sealEnvelope({ keys: who.keys, seq: ++seq, now: clock.now(), type, body: b }),
        open: (bytes) =>
          openEnvelope(bytes, {
            roster: (fp) => roster.get(fp),
            fleetPublicKey: authority.publicKey,
            fleetId: "home",
            now: clock.now(),
            replay: guard,
          }),
        peers: table,
        clock,
        info: () => ({
          version: "1",
          adminPort: 8470,
          addresses: ["10.0.0.2"],
          models: served.get(who.cert.name),
        }),
        onRefused: () => undefined,
        log: createLogger({ format: "json", write: () => {} }),
      });
    const [hubBeat, piBeat, listener] = [node(hub), node(pi5), node(me)];
    await listener.start();
    const beatAll = async () => {
      await hubBeat.beat();
      await piBeat.beat();
      for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    };
    const choice = () =>
      choosePeer(
        table.list().map((p) => ({ ...p, addresses: p.addresses ?? [] })),
        "llama-8b",
      );

    served.set("hub", [{ name: "llama-8b", loaded: true, tokensPerSecond: 6 }]);
    served.set("pi5", [{ name: "llama-8b", loaded: true, tokensPerSecond: 30 }]);
    await beatAll();
    expect(choice()?.name).toBe("hub");
    // The hub unloads it: its next beat says so, and the node gets the work.
    served.set("hub", [{ name: "llama-8b", loaded: false }]);
    await beatAll();
    expect(choice()?.name).toBe("pi5");
    // A beat without the field (a node that stopped serving, or an older runtime) leaves no stale list.
    served.set("pi5", undefined);
    await beatAll();
    expect(choice()).toBeUndefined();
    await listener.stop();
    table.stop();
  });

  test("malformed lists make the heartbeat invalid, like any other bad field", () => {
    const m = (v: object) => ({ name: "a", loaded: true, ...v });
    expect(parse({ ...body, models: [m({ tokensPerSecond: 3.5 })] })?.models).toEqual([
      m({ tokensPerSecond: 3.5 }),
    ]);
    for (const models of [
      "llama",
      [m({ name: "x".repeat(65) })],
      [m({ name: "" })],
      [m({ loaded: "yes" })],
      [m({ tokensPerSecond: -1 })],
      [m({ tokensPerSecond: "fast" })],
      Array.from({ length: 33 }, (_, i) => m({ name: `m${i}` })),
    ])
      expect(parse({ ...body, models })).toBeUndefined();
  });

  test("the sender keeps its beat valid: 32 entries at most, loaded ones first, long names left out", () => {
    const many = Array.from({ length: 40 }, (_, i) => ({ name: `m${i}`, loaded: i >= 35 }));
    const sent = advertisable([{ name: "y".repeat(65), loaded: true }, ...many]);
    expect(sent).toHaveLength(32);
    expect(sent.slice(0, 5).map((x) => x.name)).toEqual(["m35", "m36", "m37", "m38", "m39"]);
    expect(
      parseHeartbeat(encodeHeartbeat({ ...body, models: [...many, { name: "z", loaded: true }] }))?.models,
    ).toHaveLength(32);
  });
});
