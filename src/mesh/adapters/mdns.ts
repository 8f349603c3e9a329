// mDNS discovery on the LAN: advertises this node as `_kiana._tcp`, answers queries, says goodbye
// on stop, and browses `_kiana._tcp` / `_mqtt._tcp`. The socket library is imported lazily.
import { networkInterfaces } from "node:os";
import type { Question } from "dns-packet";
import { describeError } from "../../errors.ts";
import { type Clock, systemClock } from "../../platform/clock.ts";
import { createLogger, type Logger } from "../../platform/log.ts";
import {
  type Answer,
  allRecords,
  answerQuery,
  applyRecords,
  buildServiceRecords,
  type DiscoveredService,
  expireRecords,
  extractRecords,
  goodbyeRecords,
  knownAnswers,
  type RecordCache,
  refreshQuestions,
  SERVICE_DOMAINS,
  type ServiceRecordSet,
  type ServiceType,
  servicesFromCache,
} from "../mdns-records.ts";

export type { DiscoveredService, ServiceType } from "../mdns-records.ts";

export interface Rinfo {
  address: string;
  port: number;
}
export interface OutgoingResponse {
  answers: Answer[];
  additionals?: Answer[];
  id?: number;
  questions?: Question[];
}
/** The part of a multicast-dns instance we use; tests pass a fake through `mdnsFactory`. */
export interface MdnsSocket {
  on(event: "query" | "response", fn: (packet: unknown, rinfo: Rinfo) => void): unknown;
  on(event: "ready" | "error" | "warning", fn: (err?: unknown) => void): unknown;
  query(packet: { questions: Question[]; answers?: Answer[] }): void;
  respond(packet: OutgoingResponse, rinfo: Rinfo | undefined, cb: (err?: unknown) => void): void;
  destroy(cb?: () => void): void;
}

export interface MdnsOptions {
  /** Instance label, usually the node name. */
  name: string;
  /** Port in the SRV record (the admin/API port). */
  port: number;
  txt: Record<string, string>;
  /**
   * Host label for the A/AAAA records; `kiana-<name>` by default rather than the OS hostname,
   * so we never contend with avahi for `<hostname>.local`.
   */
  hostname?: string;
  /** Our current addresses; polled to notice DHCP renewals and Wi-Fi roaming. */
  interfaces?: () => string[];
  clock?: Clock;
  log?: Logger;
  mdnsFactory?: (opts: {
    bind: string;
    reuseAddr: boolean;
    loopback: boolean;
  }) => MdnsSocket | Promise<MdnsSocket>;
  ttlSeconds?: number;
  addressPollMs?: number;
}

export interface MdnsDiscovery {
  start(): Promise<void>;
  /** Sends goodbyes (TTL 0) so peers drop us at once, then closes the socket. */
  stop(): Promise<void>;
  browse(
    type: ServiceType,
    onChange: (services: DiscoveredService[]) => void,
    opts?: { includeSelf?: boolean },
  ): () => void;
  services(type: ServiceType, opts?: { includeSelf?: boolean }): DiscoveredService[];
}

export function defaultInterfaces(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) if (!i.internal) out.push(i.address);
  }
  return out;
}

const ANNOUNCE_GAPS_MS = [0, 1000]; // RFC 6762 §8.3: at least two, one second apart
const TICK_MS = 1000;
const MAX_QUERY_GAP_MS = 60_000;
const MAX_UNICAST_PER_S = 10;

async function loadMulticastDns(opts: {
  bind: string;
  reuseAddr: boolean;
  loopback: boolean;
}): Promise<MdnsSocket> {
  const mod = await import("multicast-dns");
  // bind 0.0.0.0 and no `interface`: binding a unicast address receives no multicast at all.
  return mod.default(opts) as unknown as MdnsSocket;
}

export function createMdns(opts: MdnsOptions): MdnsDiscovery {
  const clock = opts.clock ?? systemClock;
  const log = opts.log ?? createLogger({ level: "silent" });
  const getAddresses = opts.interfaces ?? defaultInterfaces;
  const hostname = opts.hostname ?? `kiana-${opts.name}`;
  const selfInstance = opts.name.toLowerCase();
  const cache: RecordCache = new Map();
  const listeners = new Set<{
    type: ServiceType;
    includeSelf: boolean;
    fn: (s: DiscoveredService[]) => void;
    last: string;
  }>();
  const browsing = new Map<ServiceType, { nextAt: number; gap: number }>();
  const asked = new Map<string, { at: number; count: number }>();
  const lastMulticast = new Map<string, number>();
  const cancels: (() => void)[] = [];
  let socket: MdnsSocket | null = null;
  let starting: Promise<void> | null = null;
  let addresses: string[] = [];
  let records: ServiceRecordSet | null = null;
  let sinceAddressPoll = 0;
  let unicastSent: number[] = [];

  const guard =
    <A extends unknown[]>(what: string, fn: (...args: A) => void) =>
    (...args: A) => {
      try {
        fn(...args);
      } catch (err) {
        log.error({ err: describeError(err) }, `mdns: ${what} failed`);
      }
    };

  const readAddresses = (): string[] => {
    try {
      return [...new Set(getAddresses())].sort();
    } catch (err) {
      log.warn({ err: describeError(err) }, "mdns: cannot read interface addresses");
      return addresses;
    }
  };

  const build = (addrs: string[]) =>
    buildServiceRecords({
      type: "kiana",
      instance: opts.name,
      hostname,
      port: opts.port,
      txt: opts.txt,
      addresses: addrs,
      ttl: opts.ttlSeconds,
    });

  const send = (answers: Answer[], additionals: Answer[] = [], to?: Rinfo) =>
    new Promise<void>((resolve) => {
      if (!socket || answers.length === 0) return resolve();
      const done = clock.setTimeout(resolve, 1000); // a lost callback must not hang stop()
      socket.respond({ answers, additionals }, to, (err) => {
        if (err) log.warn({ err: describeError(err) }, "mdns: send failed");
        done();
        resolve();
      });
    });

  const announce = () => {
    for (const gap of ANNOUNCE_GAPS_MS) {
      cancels.push(
        clock.setTimeout(
          guard("announce", () => records && void send(allRecords(records))),
          gap,
        ),
      );
    }
  };

  const visible = (type: ServiceType, includeSelf: boolean) =>
    servicesFromCache(cache, type).filter(
      (s) => includeSelf || type !== "kiana" || s.instance.toLowerCase() !== selfInstance,
    );

  const notify = () => {
    for (const l of listeners) {
      const list = visible(l.type, l.includeSelf);
      // Refreshes change seenAt and ttl only; listeners hear about what a user would notice.
      const sig = JSON.stringify(list.map(({ seenAt: _s, ttl: _t, ...rest }) => rest));
      if (sig === l.last) continue;
      l.last = sig;
      guard("browse listener", l.fn)(list);
    }
  };

  const sendQuery = (questions: Question[], known: Answer[] = []) => {
    if (socket && questions.length) socket.query({ questions, answers: known });
  };

  const onQuery = (packet: unknown, rinfo: Rinfo) => {
    if (!records) return;
    const res = answerQuery(packet, records);
    if (!res) return;
    if (rinfo.port !== 5353) {
      // Legacy unicast (RFC 6762 §6.7): reply to the asker's port, echo id and questions, short TTLs.
      // Capped per second, so spoofed queries cannot turn us into a reflector.
      const now = clock.monotonic();
      unicastSent = unicastSent.filter((t) => now - t < 1000);
      if (unicastSent.length >= MAX_UNICAST_PER_S) return;
      unicastSent.push(now);
      const p = packet as { id?: number; questions?: Question[] };
      const short = (r: Answer) => ({ ...r, ttl: Math.min(r.ttl ?? 10, 10), flush: false }) as Answer;
      socket?.respond(
        {
          id: p.id,
          questions: p.questions,
          answers: res.answers.map(short),
          additionals: res.additionals.map(short),
        },
        rinfo,
        () => {},
      );
      return;
    }
    // Never multicast the same answer twice within a second: a query flood must not become ours.
    const key = res.answers.map((r) => `${r.name}|${r.type}`).join(",");
    const now = clock.monotonic();
    if (now - (lastMulticast.get(key) ?? Number.NEGATIVE_INFINITY) < 1000) return;
    lastMulticast.set(key, now);
    void send(res.answers, res.additionals);
  };

  const onResponse = (packet: unknown) => {
    const now = clock.now();
    const { records: received, problems } = extractRecords(packet, now);
    problems.push(...applyRecords(cache, received, now));
    if (problems.length) log.debug({ problems: problems.slice(0, 8) }, "mdns: ignored parts of a response");
    notify();
  };

  // Continuous querying (RFC 6762 §5.2): 1 s, 2 s, 4 s ... up to a minute, for late joiners.
  const queryBrowsed = (now: number) => {
    for (const [type, q] of browsing) {
      if (now < q.nextAt) continue;
      sendQuery([{ name: SERVICE_DOMAINS[type], type: "PTR" }], knownAnswers(cache, type, now));
      q.nextAt = now + q.gap;
      q.gap = Math.min(q.gap * 2, MAX_QUERY_GAP_MS);
    }
  };

  const tick = () => {
    const now = clock.now();
    if (expireRecords(cache, now)) notify();
    for (const [key, at] of lastMulticast) if (clock.monotonic() - at > 1000) lastMulticast.delete(key);
    queryBrowsed(now);
    // Ask for what is aging or missing, each question at most 4 times, spaced 1, 2, 4 s.
    const needed = new Map<string, Question>();
    for (const type of browsing.keys()) {
      for (const q of refreshQuestions(cache, type, now)) needed.set(`${q.name.toLowerCase()}|${q.type}`, q);
    }
    for (const key of asked.keys()) if (!needed.has(key)) asked.delete(key);
    const due: Question[] = [];
    for (const [key, q] of needed) {
      const a = asked.get(key);
      if (a && (a.count >= 4 || now - a.at < 1000 * 2 ** (a.count - 1))) continue;
      asked.set(key, { at: now, count: (a?.count ?? 0) + 1 });
      due.push(q);
    }
    sendQuery(due);
    sinceAddressPoll += TICK_MS;
    if (sinceAddressPoll >= (opts.addressPollMs ?? 5000)) {
      sinceAddressPoll = 0;
      checkAddresses();
    }
  };

  const checkAddresses = () => {
    const next = readAddresses();
    if (next.join() === addresses.join() || !records) return;
    log.info({ from: addresses, to: next }, "mdns: addresses changed, re-announcing");
    const fresh = build(next); // first: a bad address must leave the old, valid set in place
    const gone = records.hosts.filter((r) => typeof r.data === "string" && !next.includes(r.data));
    addresses = next;
    records = fresh;
    void send(goodbyeRecords(gone));
    announce();
  };

  const startBrowsing = (type: ServiceType) => {
    if (!browsing.has(type)) browsing.set(type, { nextAt: clock.now(), gap: 1000 });
    if (socket) guard("browse query", queryBrowsed)(clock.now());
  };

  const open = async () => {
    addresses = readAddresses();
    records = build(addresses); // throws on a bad name or TXT before any socket exists
    const s = await (opts.mdnsFactory ?? loadMulticastDns)({
      bind: "0.0.0.0",
      reuseAddr: true,
      loopback: true,
    });
    await new Promise<void>((resolve, reject) => {
      const cancel = clock.setTimeout(() => reject(new Error("mdns: socket not ready after 5 s")), 5000);
      s.on("ready", () => {
        cancel();
        resolve();
      });
      s.on(
        "error",
        guard("error", (err) => {
          cancel();
          reject(err instanceof Error ? err : new Error(String(err)));
          log.error({ err: describeError(err) }, "mdns: socket error");
        }),
      );
    }).catch((err) => {
      s.destroy();
      throw err;
    });
    s.on(
      "warning",
      guard("warning", (err) => log.debug({ err: describeError(err) }, "mdns: undecodable packet")),
    );
    s.on("query", guard("query", onQuery));
    s.on("response", guard("response", onResponse));
    socket = s;
    announce();
    cancels.push(clock.setInterval(guard("tick", tick), TICK_MS));
    for (const q of browsing.values()) Object.assign(q, { nextAt: clock.now(), gap: 1000 });
    guard("browse query", queryBrowsed)(clock.now());
    log.info({ name: opts.name, port: opts.port, addresses }, "mdns: advertising _kiana._tcp");
  };

  return {
    start() {
      // One socket however often start() is called, also concurrently; a failed start may be retried.
      starting ??= open().catch((err) => {
        starting = null;
        throw err;
      });
      return starting;
    },

    async stop() {
      await starting?.catch(() => {});
      starting = null;
      const s = socket;
      if (!s) return;
      for (const cancel of cancels.splice(0)) cancel();
      if (records) await send(goodbyeRecords(allRecords(records)));
      socket = null;
      records = null;
      cache.clear();
      notify();
      await new Promise<void>((resolve) => {
        const done = clock.setTimeout(resolve, 1000);
        s.destroy(() => {
          done();
          resolve();
        });
      });
    },

    browse(type, fn, browseOpts = {}) {
      const l = { type, includeSelf: browseOpts.includeSelf ?? false, fn, last: "[]" };
      listeners.add(l);
      startBrowsing(type);
      queueMicrotask(notify); // a late subscriber hears what is already known
      return () => {
        listeners.delete(l);
        if (![...listeners].some((x) => x.type === type)) browsing.delete(type);
      };
    },

    services(type, browseOpts = {}) {
      return visible(type, browseOpts.includeSelf ?? false);
    },
  };
}
