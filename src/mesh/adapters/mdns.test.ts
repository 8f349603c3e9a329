// mDNS discovery: record build/parse (hostile input included), the adapter against a fake socket
// and a manual clock, and three real processes finding each other across network namespaces.
import { afterAll, describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import packet from "dns-packet";
import { createManualClock } from "../../platform/clock.ts";
import {
  allRecords,
  answerQuery,
  applyRecords,
  buildServiceRecords,
  type DiscoveredService,
  expireRecords,
  extractRecords,
  goodbyeRecords,
  kianaTxt,
  MAX_CACHED_RECORDS,
  parseTxt,
  type RecordCache,
  refreshQuestions,
  servicesFromCache,
} from "../mdns-records.ts";
import {
  createNetnsLan,
  listNamespaces,
  type NetnsLan,
  type WatchedProcess,
  waitFor,
  watch,
} from "../netns.test-helper.ts";
import { createMdns, type MdnsSocket, type OutgoingResponse, type Rinfo } from "./mdns.ts";

const FP_A = "a".repeat(32);
const txtA = kianaTxt({ fingerprint: FP_A, role: "hub", version: "0.1.0", adminPort: 8080, fleet: "home" });
const specA = {
  type: "kiana" as const,
  instance: "alpha",
  hostname: "kiana-alpha",
  port: 8080,
  txt: txtA,
  addresses: ["10.0.0.1", "fd00::1"],
};

/** Sends records through the real wire format, as a peer's packet would arrive. */
function wire(answers: unknown[], additionals: unknown[] = []): unknown {
  return packet.decode(packet.encode({ type: "response", answers, additionals } as packet.Packet));
}

function receive(cache: RecordCache, pkt: unknown, now: number): string[] {
  const { records, problems } = extractRecords(pkt, now);
  return [...problems, ...applyRecords(cache, records, now)];
}

describe("mdns records", () => {
  test("a built record set survives the wire and becomes one discovered service", () => {
    const set = buildServiceRecords(specA);
    expect(set.ptr).toMatchObject({
      name: "_kiana._tcp.local",
      type: "PTR",
      data: "alpha._kiana._tcp.local",
    });
    expect(set.srv).toMatchObject({ flush: true, data: { target: "kiana-alpha.local", port: 8080 } });
    expect(set.hosts.map((h) => h.type)).toEqual(["A", "AAAA"]);
    const cache: RecordCache = new Map();
    expect(receive(cache, wire(allRecords(set)), 1000)).toEqual([]);
    const [svc] = servicesFromCache(cache, "kiana");
    expect(svc).toMatchObject({
      type: "kiana",
      instance: "alpha",
      host: "kiana-alpha.local",
      port: 8080,
      addresses: ["10.0.0.1", "fd00::1"],
      txt: { fp: FP_A, role: "hub", ver: "0.1.0", admin: "8080", fleet: "home" },
      ttl: 120,
      seenAt: 1000,
      problems: [],
    });
    expect(servicesFromCache(cache, "mqtt")).toEqual([]);
  });

  test("our own bad values are refused before anything is sent", () => {
    expect(() => buildServiceRecords({ ...specA, instance: "a.b" })).toThrow(/without dots/);
    expect(() => buildServiceRecords({ ...specA, port: 0 })).toThrow(/port/);
    expect(() => buildServiceRecords({ ...specA, addresses: ["nope"] })).toThrow(/not an IP/);
    expect(() => buildServiceRecords({ ...specA, txt: { ...txtA, role: "king" } })).toThrow(/role/);
    expect(() => buildServiceRecords({ ...specA, txt: { "bad=key": "x" } })).toThrow(/bad key/);
  });

  test("goodbye records carry TTL 0 and remove the service at once", () => {
    const set = buildServiceRecords(specA);
    const bye = goodbyeRecords(allRecords(set));
    expect(bye.map((r) => r.ttl)).toEqual([0, 0, 0, 0, 0]);
    expect(bye.map((r) => r.name)).toEqual(allRecords(set).map((r) => r.name));
    const cache: RecordCache = new Map();
    receive(cache, wire(allRecords(set)), 1000);
    receive(cache, wire(bye), 2000);
    expect(servicesFromCache(cache, "kiana")).toEqual([]);
  });

  test("TXT: unknown keys kept, malformed entries ignored with a reason", () => {
    const enc = (s: string) => new TextEncoder().encode(s);
    const { txt, problems } = parseTxt("kiana", [
      enc(`FP=${FP_A}`),
      enc(`fp=${"b".repeat(32)}`),
      enc("role=king"),
      enc("admin=99999"),
      enc("extra=hello=world"),
      enc("flag"),
      enc("=novalue"),
      new Uint8Array([0x6b, 0x3d, 0xff, 0xfe]),
      new Uint8Array(),
    ]);
    expect(txt).toEqual({ fp: FP_A, extra: "hello=world" });
    expect(problems).toHaveLength(6);
    expect(problems.join("\n")).toMatch(
      /fp repeated[\s\S]*role="king"[\s\S]*admin="99999"[\s\S]*has no value/,
    );
    expect(parseTxt("mqtt", [enc("role=king")]).txt).toEqual({ role: "king" });
  });

  test("hostile packets never throw and never become services", () => {
    const hostile: unknown[] = [
      null,
      42,
      "response",
      { type: "response", answers: "x" },
      { type: "response", answers: [null, 1, { type: "PTR" }, { type: "SRV", name: "a", ttl: -1 }] },
      {
        type: "response",
        answers: [{ type: "SRV", name: "x._kiana._tcp.local", ttl: 5, data: { port: 0 } }],
      },
      { type: "response", answers: [{ type: "A", name: "h.local", ttl: 5, data: "999.1.1.1" }] },
      { type: "response", answers: [{ type: "TXT", name: "x._kiana._tcp.local", ttl: 5, data: [{}] }] },
      {
        type: "response",
        answers: [{ type: "PTR", name: "_kiana._tcp.local", ttl: 5, class: "CH", data: "x" }],
      },
      { type: "response", answers: [{ type: "PTR", name: "x".repeat(300), ttl: 5, data: "x" }] },
      wire([{ name: "_kiana._tcp.local", type: "PTR", ttl: 120, data: "evil.example.com" }]),
    ];
    const cache: RecordCache = new Map();
    const own = buildServiceRecords(specA);
    for (const pkt of hostile) {
      expect(() => receive(cache, pkt, 1000)).not.toThrow();
      expect(answerQuery(pkt, own)).toBeNull();
    }
    expect(servicesFromCache(cache, "kiana")).toEqual([]);
    expect(receive(cache, hostile[4], 1000).length).toBeGreaterThan(2);
  });

  test("random corruption of a valid packet never throws (2000 mutations)", () => {
    const good = packet.encode({
      type: "response",
      answers: allRecords(buildServiceRecords(specA)),
    } as packet.Packet);
    let seed = 12345;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const own = buildServiceRecords(specA);
    let decoded = 0;
    for (let i = 0; i < 2000; i++) {
      const bytes = Buffer.from(good);
      for (let j = 0; j < 1 + Math.floor(rand() * 4); j++)
        bytes[Math.floor(rand() * bytes.length)] = rand() * 256;
      let pkt: unknown;
      try {
        pkt = packet.decode(bytes); // the socket library drops what it cannot decode
      } catch {
        continue;
      }
      decoded++;
      const cache: RecordCache = new Map();
      receive(cache, pkt, 1000);
      servicesFromCache(cache, "kiana");
      refreshQuestions(cache, "kiana", 100_000);
      answerQuery({ ...(pkt as object), type: "query" }, own);
    }
    expect(decoded).toBeGreaterThan(100);
  });

  test("a flood of fake instances is capped", () => {
    const cache: RecordCache = new Map();
    const answers = Array.from({ length: 200 }, (_, i) => ({
      name: "_kiana._tcp.local",
      type: "PTR",
      ttl: 120,
      data: `fake${i}._kiana._tcp.local`,
    }));
    const problems: string[] = [];
    for (let round = 0; round < 10; round++) {
      const shifted = answers.map((a) => ({ ...a, data: `r${round}${a.data}` }));
      problems.push(...receive(cache, { type: "response", answers: shifted }, 1000));
    }
    expect(cache.size).toBe(MAX_CACHED_RECORDS);
    expect(problems.some((p) => p.includes("cache full"))).toBe(true);
  });

  test("cache-flush replaces an old address; TTL expiry drops the service", () => {
    const cache: RecordCache = new Map();
    receive(cache, wire(allRecords(buildServiceRecords(specA))), 1000);
    receive(cache, wire(buildServiceRecords({ ...specA, addresses: ["10.0.0.9"] }).hosts), 5000);
    // Flush is per name and type: the A set is replaced, the AAAA set is untouched.
    expect(servicesFromCache(cache, "kiana")[0]?.addresses).toEqual(["10.0.0.9", "fd00::1"]);
    expect(refreshQuestions(cache, "kiana", 1000 + 95_000)).toEqual([]);
    expect(refreshQuestions(cache, "kiana", 1000 + 97_000)).toContainEqual({
      name: "_kiana._tcp.local",
      type: "PTR",
    });
    expect(expireRecords(cache, 1000 + 119_000)).toBe(false);
    expect(expireRecords(cache, 1000 + 120_000)).toBe(true);
    expect(servicesFromCache(cache, "kiana")).toEqual([]);
  });

  test("queries: answered with additionals, suppressed by known answers, unrelated ignored", () => {
    const own = buildServiceRecords(specA);
    const res = answerQuery({ type: "query", questions: [{ name: "_KIANA._tcp.local", type: "PTR" }] }, own);
    expect(res?.answers).toEqual([own.ptr]);
    expect(res?.additionals.map((r) => r.type)).toEqual(["SRV", "TXT", "A", "AAAA"]);
    const ask = { type: "query", questions: [{ name: "_kiana._tcp.local", type: "PTR" }] };
    expect(answerQuery({ ...ask, answers: [{ ...own.ptr, ttl: 100 }] }, own)).toBeNull();
    expect(answerQuery({ ...ask, answers: [{ ...own.ptr, ttl: 30 }] }, own)).not.toBeNull();
    const byHost = answerQuery({ questions: [{ name: "kiana-alpha.local", type: "A" }] }, own);
    expect(byHost?.answers).toEqual(own.hosts.slice(0, 1));
    expect(answerQuery({ questions: [{ name: "_http._tcp.local", type: "PTR" }] }, own)).toBeNull();
  });
});

function fakeSocket() {
  const sent: { kind: "query" | "respond"; packet: OutgoingResponse; rinfo?: Rinfo }[] = [];
  const handlers = new Map<string, ((...args: unknown[]) => void)[]>();
  let destroyed = false;
  const socket: MdnsSocket = {
    on(event: string, fn: (...args: never[]) => void) {
      handlers.set(event, [...(handlers.get(event) ?? []), fn as (...args: unknown[]) => void]);
      return socket;
    },
    query: (p) => sent.push({ kind: "query", packet: p as unknown as OutgoingResponse }),
    respond: (p, rinfo, cb) => {
      sent.push({ kind: "respond", packet: p, rinfo });
      cb();
    },
    destroy: (cb) => {
      destroyed = true;
      cb?.();
    },
  };
  const emit = (event: string, ...args: unknown[]) => {
    for (const fn of handlers.get(event) ?? []) fn(...args);
  };
  const factory = () => {
    setTimeout(() => emit("ready"), 0); // after start() has attached its listeners, as a real bind

    return socket;
  };
  const responses = () => sent.filter((s) => s.kind === "respond").map((s) => s.packet);
  return { sent, emit, factory, responses, isDestroyed: () => destroyed };
}

const PEER = { address: "10.0.0.2", port: 5353 };

function setup(addrs: string[] = ["10.0.0.1"]) {
  const clock = createManualClock();
  const fake = fakeSocket();
  let current = addrs;
  const mdns = createMdns({
    name: "alpha",
    port: 8080,
    txt: txtA,
    interfaces: () => current,
    clock,
    mdnsFactory: fake.factory,
  });
  return { clock, fake, mdns, setAddresses: (a: string[]) => (current = a) };
}

const aOf = (p: OutgoingResponse) => p.answers.filter((r) => r.type === "A").map((r) => [r.data, r.ttl]);

describe("mdns adapter (fake socket, manual clock)", () => {
  test("announces twice on start, then re-announces with goodbyes when addresses change", async () => {
    const { clock, fake, mdns, setAddresses } = setup();
    await mdns.start();
    clock.advance(0);
    clock.advance(1000);
    expect(fake.responses().map(aOf)).toEqual([[["10.0.0.1", 120]], [["10.0.0.1", 120]]]);
    clock.advance(10_000);
    expect(fake.responses()).toHaveLength(2); // no change, no traffic
    setAddresses(["10.0.0.7", "10.0.0.1"]);
    clock.advance(5000);
    clock.advance(1000);
    expect(fake.responses().slice(2).map(aOf)).toEqual([
      [
        ["10.0.0.1", 120],
        ["10.0.0.7", 120],
      ],
      [
        ["10.0.0.1", 120],
        ["10.0.0.7", 120],
      ],
    ]);
    setAddresses(["10.0.0.7"]);
    clock.advance(6000);
    const after = fake.responses().slice(4).map(aOf);
    expect(after[0]).toEqual([["10.0.0.1", 0]]); // goodbye for the address that went away
    expect(after.slice(1)).toEqual([[["10.0.0.7", 120]], [["10.0.0.7", 120]]]);
    setAddresses(["not-an-address"]); // a broken interface list keeps the last valid set
    clock.advance(6000);
    expect(fake.responses()).toHaveLength(7);
    await mdns.stop();
  });

  test("answers queries once per second at most, and sends goodbyes on stop", async () => {
    const { clock, fake, mdns } = setup();
    await mdns.start();
    clock.advance(2000);
    const before = fake.responses().length;
    const query = { type: "query", questions: [{ name: "_kiana._tcp.local", type: "PTR" }], answers: [] };
    fake.emit("query", query, PEER);
    fake.emit("query", query, PEER);
    expect(fake.responses().length).toBe(before + 1);
    clock.advance(1500);
    fake.emit("query", query, PEER);
    expect(fake.responses().length).toBe(before + 2);
    fake.emit("query", { ...query, id: 7 }, { address: "10.0.0.3", port: 40000 });
    const legacy = fake.sent.at(-1);
    expect(legacy?.rinfo).toEqual({ address: "10.0.0.3", port: 40000 });
    expect(legacy?.packet.id).toBe(7);
    expect(legacy?.packet.answers[0]?.ttl).toBe(10);
    const sentBefore = fake.sent.length;
    for (let i = 0; i < 50; i++) fake.emit("query", query, { address: "10.0.0.3", port: 40000 + i });
    expect(fake.sent.length - sentBefore).toBe(9); // ten legacy answers per second at most
    await mdns.stop();
    const bye = fake.responses().at(-1);
    expect(bye?.answers.map((r) => [r.type, r.ttl])).toEqual([
      ["PTR", 0],
      ["SRV", 0],
      ["TXT", 0],
      ["A", 0],
    ]);
    expect(fake.isDestroyed()).toBe(true);
  });

  test("browse lists peers but not itself, drops on goodbye and on expiry, survives bad input", async () => {
    const { clock, fake, mdns } = setup();
    const seen: DiscoveredService[][] = [];
    mdns.browse("kiana", () => {
      throw new Error("a broken listener must not break discovery");
    });
    mdns.browse("kiana", (s) => seen.push(s));
    await mdns.start();
    expect(fake.sent.some((s) => s.kind === "query")).toBe(true);
    const own = buildServiceRecords({ ...specA, addresses: ["10.0.0.1"] });
    const txtB = kianaTxt({
      fingerprint: "b".repeat(32),
      role: "node",
      version: "0.1.0",
      adminPort: 80,
      fleet: "home",
    });
    const peer = buildServiceRecords({
      ...specA,
      instance: "beta",
      hostname: "kiana-beta",
      txt: txtB,
      addresses: ["10.0.0.2"],
    });
    fake.emit("response", wire(allRecords(own)), PEER); // our own announcement, looped back
    fake.emit("response", wire(allRecords(peer)), PEER);
    fake.emit("response", { type: "response", answers: [{ type: "SRV", name: 5, data: null }] }, PEER);
    fake.emit("response", "garbage", PEER);
    expect(seen.at(-1)?.map((s) => [s.instance, s.txt.role, s.addresses])).toEqual([
      ["beta", "node", ["10.0.0.2"]],
    ]);
    expect(mdns.services("kiana", { includeSelf: true }).map((s) => s.instance)).toEqual(["alpha", "beta"]);
    fake.emit("response", wire(goodbyeRecords(allRecords(peer))), PEER);
    expect(seen.at(-1)).toEqual([]);
    fake.emit("response", wire(allRecords(peer)), PEER);
    expect(seen.at(-1)).toHaveLength(1);
    const queriesBefore = fake.sent.filter((s) => s.kind === "query").length;
    clock.advance(121_000); // nobody answers the refresh queries
    expect(fake.sent.filter((s) => s.kind === "query").length).toBeGreaterThan(queriesBefore + 3);
    expect(seen.at(-1)).toEqual([]);
    await mdns.stop();
  });
});

// ---- Real processes in real network namespaces. ----

const HELPER = resolve(import.meta.dir, "../mdns-node.test-helper.ts");
const PREFIX = "ktmdns";

function latest(node: WatchedProcess, type: string): DiscoveredService[] {
  const last = node.lines.filter((l) => l.event === "services" && l.type === type).at(-1);
  return (last?.services as DiscoveredService[] | undefined) ?? [];
}

describe("mdns between network namespaces", () => {
  let lan: NetnsLan | undefined;
  const procs: WatchedProcess[] = [];
  afterAll(async () => {
    for (const p of procs) p.proc.kill("SIGKILL");
    await Promise.all(procs.map((p) => p.proc.exited));
    lan?.teardown();
    // Only our own: a parallel run's namespaces share the prefix.
    if (lan) expect(listNamespaces(`${lan.tag}-`)).toEqual([]);
  });

  test("three nodes find each other, a goodbye removes one at once, an mqtt broker is found", async () => {
    lan = createNetnsLan(3, PREFIX);
    const roles = ["hub", "node", "satellite"];
    const names = ["alpha", "beta", "gamma"];
    const fps = ["a", "b", "c"].map((c) => c.repeat(32));
    const nodes = lan.hosts.map((ns, i) =>
      watch(
        (lan as NetnsLan).run(ns, [
          process.execPath,
          HELPER,
          `--name=${names[i]}`,
          `--fp=${fps[i]}`,
          `--role=${roles[i]}`,
          `--admin=${8080 + i}`,
          `--port=${9000 + i}`,
          "--fleet=home",
          "--ver=0.1.0",
        ]),
      ),
    );
    const broker = watch(
      lan.run(lan.hosts[2] ?? "", [process.execPath, HELPER, "--mode=mqtt", "--name=hub", "--port=1883"]),
    );
    procs.push(...nodes, broker);
    const all = [...nodes, broker];

    const expected = (i: number) => ({
      instance: names[i],
      port: 9000 + i,
      ipv4: [lan?.addresses[i]],
      txt: { fp: fps[i], role: roles[i], ver: "0.1.0", admin: String(8080 + i), fleet: "home" },
    });
    const sees = (n: number, others: number[]) => {
      // Link-local IPv6 addresses also appear (the kernel adds them); the IPv4 one is what we set.
      const got = latest(nodes[n] as WatchedProcess, "kiana").map(({ instance, port, addresses, txt }) => ({
        instance,
        port,
        ipv4: addresses.filter((a) => !a.includes(":")),
        txt,
      }));
      return JSON.stringify(got) === JSON.stringify(others.map(expected));
    };
    const found = await waitFor(
      "all three to see the other two",
      () => sees(0, [1, 2]) && sees(1, [0, 2]) && sees(2, [0, 1]),
      15_000,
      all,
    );

    const mqttSeen = () => latest(nodes[0] as WatchedProcess, "mqtt");
    await waitFor(
      "node 0 to find the mqtt broker in namespace 2",
      () => mqttSeen().length === 1,
      10_000,
      all,
    );
    expect(mqttSeen()[0]).toMatchObject({
      instance: "hub broker",
      port: 1883,
      addresses: [lan.addresses[2]],
      txt: {},
    });

    nodes[2]?.proc.kill("SIGTERM");
    const dropped = await waitFor(
      "the others to drop gamma after its goodbye",
      () => sees(0, [1]) && sees(1, [0]),
      3000,
      all,
    );
    expect(nodes[2]?.lines.some((l) => l.event === "stopped")).toBe(true);
    console.log(
      `mdns netns: discovery ${found.toFixed(0)} ms, goodbye honoured in ${dropped.toFixed(0)} ms (TTL 120 s)`,
    );
  }, 40_000);
});
