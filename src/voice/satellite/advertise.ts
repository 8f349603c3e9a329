// Advertises a Wyoming server (a satellite, or the hub's speech services) as `_wyoming._tcp` over
// mDNS, so Home Assistant's discovery and our hub find it. The mesh's responder answers only for
// `_kiana._tcp`; this one reuses its record logic for the Wyoming record set.
import { networkInterfaces } from "node:os";
import { describeError } from "../../errors.ts";
import type { MdnsSocket } from "../../mesh/adapters/mdns.ts";
import { allRecords, answerQuery, goodbyeRecords, type ServiceRecordSet } from "../../mesh/mdns-records.ts";
import { type Clock, systemClock } from "../../platform/clock.ts";
import type { Logger } from "../../platform/log.ts";
import { wyomingInstanceName, wyomingServiceRecords } from "../wyoming/index.ts";

export type MdnsFactory = (opts: {
  bind: string;
  reuseAddr: boolean;
  loopback: boolean;
}) => MdnsSocket | Promise<MdnsSocket>;

/** multicast-dns, imported only when something is advertised or browsed. */
export const loadMdnsSocket: MdnsFactory = async (opts) =>
  (await import("multicast-dns")).default(opts) as unknown as MdnsSocket;

export function lanAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .filter((i) => !i.internal)
    .map((i) => i.address);
}

export interface WyomingAdvertiserOptions {
  /** A person's name for it, e.g. "kitchen satellite"; made a valid label here. */
  instance: string;
  /** Host label for the address records, e.g. `kiana-kitchen`. */
  hostname: string;
  port: number;
  addresses?: () => string[];
  log: Logger;
  clock?: Clock;
  mdnsFactory?: MdnsFactory;
}

export interface WyomingAdvertiser {
  start(): Promise<void>;
  /** Sends goodbyes so Home Assistant drops the entry at once. */
  stop(): Promise<void>;
}

export function createWyomingAdvertiser(opts: WyomingAdvertiserOptions): WyomingAdvertiser {
  const clock = opts.clock ?? systemClock;
  let socket: MdnsSocket | null = null;
  let records: ServiceRecordSet | null = null;
  const cancels: (() => void)[] = [];

  const send = (answers: ReturnType<typeof allRecords>, additionals: typeof answers = []) =>
    new Promise<void>((resolve) => {
      if (!socket) return resolve();
      socket.respond({ answers, additionals }, undefined, (err) => {
        if (err) opts.log.debug({ err: describeError(err) }, "wyoming mdns: send failed");
        resolve();
      });
    });

  return {
    async start() {
      records = wyomingServiceRecords({
        instance: wyomingInstanceName(opts.instance),
        hostname: opts.hostname,
        port: opts.port,
        // Addresses are read once: a satellite rarely changes its LAN address while running.
        addresses: (opts.addresses ?? lanAddresses)(),
      });
      const s = await (opts.mdnsFactory ?? loadMdnsSocket)({
        bind: "0.0.0.0",
        reuseAddr: true,
        loopback: true,
      });
      s.on("error", (err) => opts.log.warn({ err: describeError(err) }, "wyoming mdns: socket error"));
      s.on("query", (packet) => {
        try {
          const answer = records && answerQuery(packet, records);
          if (answer) void send(answer.answers, answer.additionals);
        } catch (err) {
          opts.log.debug({ err: describeError(err) }, "wyoming mdns: query not answered");
        }
      });
      socket = s;
      // RFC 6762 §8.3: announce at least twice, a second apart.
      for (const gap of [0, 1000])
        cancels.push(clock.setTimeout(() => records && void send(allRecords(records)), gap));
      opts.log.info({ instance: opts.instance, port: opts.port }, "advertising _wyoming._tcp");
    },
    async stop() {
      for (const cancel of cancels.splice(0)) cancel();
      const s = socket;
      if (!s || !records) return;
      await Promise.race([send(goodbyeRecords(allRecords(records))), Bun.sleep(1000)]);
      socket = null;
      await new Promise<void>((resolve) => s.destroy(resolve));
    },
  };
}
