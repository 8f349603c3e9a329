// Finds Wyoming servers on the LAN (`_wyoming._tcp` over mDNS) for the hub to drive as satellites.
// Whether a found server is a satellite is asked with `describe` later; here only addresses are kept.
import { describeError } from "../../errors.ts";
import type { MdnsSocket } from "../../mesh/adapters/mdns.ts";
import { extractRecords, type MdnsRecord } from "../../mesh/mdns-records.ts";
import { type Clock, systemClock } from "../../platform/clock.ts";
import type { Logger } from "../../platform/log.ts";
import { loadMdnsSocket, type MdnsFactory } from "../satellite/advertise.ts";
import { WYOMING_SERVICE_DOMAIN } from "../wyoming/index.ts";

export interface FoundWyoming {
  /** The instance label, e.g. "kitchen". */
  instance: string;
  host: string;
  port: number;
}

export interface WyomingBrowserOptions {
  log: Logger;
  clock?: Clock;
  mdnsFactory?: MdnsFactory;
  onChange(found: FoundWyoming[]): void;
}

/** A busy LAN announces much; only this many Wyoming records are held. */
const MAX_RECORDS = 256;

export function browseWyoming(opts: WyomingBrowserOptions): { stop(): Promise<void> } {
  const clock = opts.clock ?? systemClock;
  const cache = new Map<string, MdnsRecord>();
  let socket: MdnsSocket | null = null;
  let stopped = false;
  let last = "";
  let gap = 1000;
  let cancel = () => {};

  const key = (r: MdnsRecord) =>
    `${r.name.toLowerCase()}|${r.type}|${r.type === "PTR" ? r.target : r.type === "A" || r.type === "AAAA" ? r.address : ""}`;

  const resolve = (): FoundWyoming[] => {
    const now = clock.now();
    for (const [k, r] of cache) if (r.receivedAt + r.ttl * 1000 <= now) cache.delete(k);
    const records = [...cache.values()];
    const found: FoundWyoming[] = [];
    for (const ptr of records) {
      if (ptr.type !== "PTR" || ptr.name.toLowerCase() !== WYOMING_SERVICE_DOMAIN) continue;
      const srv = records.find((r) => r.type === "SRV" && r.name.toLowerCase() === ptr.target.toLowerCase());
      if (srv?.type !== "SRV") continue;
      const a = records.find((r) => r.type === "A" && r.name.toLowerCase() === srv.target.toLowerCase());
      const instance = ptr.target.slice(0, -(WYOMING_SERVICE_DOMAIN.length + 1));
      found.push({ instance, host: a?.type === "A" ? a.address : srv.target, port: srv.port });
    }
    return found.sort((x, y) => x.instance.localeCompare(y.instance));
  };

  const changed = () => {
    const found = resolve();
    const sig = JSON.stringify(found);
    if (sig === last) return;
    last = sig;
    try {
      opts.onChange(found);
    } catch (err) {
      opts.log.error({ err: describeError(err) }, "wyoming discovery listener failed");
    }
  };

  const onResponse = (packet: unknown) => {
    const { records } = extractRecords(packet, clock.now());
    for (const r of records) {
      const relevant =
        r.name.toLowerCase().endsWith(WYOMING_SERVICE_DOMAIN) || r.type === "A" || r.type === "AAAA";
      if (!relevant) continue;
      if (r.ttl === 0) cache.delete(key(r));
      else if (cache.size < MAX_RECORDS || cache.has(key(r))) cache.set(key(r), r);
    }
    changed();
  };

  // Continuous querying (RFC 6762 §5.2): 1 s, 2 s, 4 s ... up to a minute, for satellites booting later.
  const ask = () => {
    if (stopped || !socket) return;
    socket.query({ questions: [{ name: WYOMING_SERVICE_DOMAIN, type: "PTR" }] });
    changed();
    cancel = clock.setTimeout(ask, gap);
    gap = Math.min(gap * 2, 60_000);
  };

  void (async () => {
    try {
      const s = await (opts.mdnsFactory ?? loadMdnsSocket)({
        bind: "0.0.0.0",
        reuseAddr: true,
        loopback: true,
      });
      if (stopped) return s.destroy();
      s.on("error", (err) => opts.log.warn({ err: describeError(err) }, "wyoming discovery: socket error"));
      s.on("response", (packet) => onResponse(packet));
      socket = s;
      ask();
    } catch (err) {
      opts.log.warn({ err: describeError(err) }, "wyoming discovery is off");
    }
  })();

  return {
    async stop() {
      stopped = true;
      cancel();
      const s = socket;
      socket = null;
      if (s) await new Promise<void>((resolve) => s.destroy(resolve));
    },
  };
}
