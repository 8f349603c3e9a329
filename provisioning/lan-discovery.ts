// Lists kiana devices on the LAN: asks for `_kiana._tcp` over mDNS for a few seconds and reads the
// answers with the runtime's own record parser. Browse only: the operator's machine advertises nothing.
import {
  applyRecords,
  type DiscoveredService,
  expireRecords,
  extractRecords,
  type RecordCache,
  SERVICE_DOMAINS,
  servicesFromCache,
} from "../src/mesh/mdns-records.ts";

export type { DiscoveredService };

/** The part of a multicast-dns socket this needs; tests may pass their own. */
export interface BrowseSocket {
  on(event: "response", fn: (packet: unknown) => void): unknown;
  query(packet: { questions: { name: string; type: "PTR" }[] }): void;
  destroy(cb?: () => void): void;
}

async function openSocket(): Promise<BrowseSocket> {
  const mod = await import("multicast-dns");
  // bind 0.0.0.0, never an interface address: that would receive no multicast (DESIGN.md pitfalls).
  return mod.default({ bind: "0.0.0.0", reuseAddr: true, loopback: true }) as unknown as BrowseSocket;
}

/** Queries three times over `waitMs` (a lost first packet is common on Wi-Fi) and returns what answered. */
export async function browseKiana(
  waitMs: number,
  socket?: BrowseSocket,
  now: () => number = Date.now,
): Promise<DiscoveredService[]> {
  const mdns = socket ?? (await openSocket());
  const cache: RecordCache = new Map();
  mdns.on("response", (packet) => {
    const { records } = extractRecords(packet, now());
    applyRecords(cache, records, now());
  });
  const ask = () => mdns.query({ questions: [{ name: SERVICE_DOMAINS.kiana, type: "PTR" }] });
  try {
    ask();
    const timers = [waitMs / 3, (2 * waitMs) / 3].map((ms) => setTimeout(ask, ms));
    await Bun.sleep(waitMs);
    for (const t of timers) clearTimeout(t);
    expireRecords(cache, now());
    return servicesFromCache(cache, "kiana");
  } finally {
    await new Promise<void>((done) => mdns.destroy(() => done()));
  }
}

/** The admin URL of a discovered device: its first IPv4 address (else IPv6) and advertised port. */
export function adminUrl(service: DiscoveredService): string | undefined {
  const address = service.addresses[0];
  if (!address) return undefined;
  return `http://${address.includes(":") ? `[${address}]` : address}:${service.txt.admin ?? service.port}/`;
}

/**
 * A device's state as its TXT record tells it: `member` (enrolled in this fleet), `other fleet`,
 * `awaiting setup` (no admin password yet), `set up` (password set, not enrolled). Runtimes from
 * before the `setup`/`enrolled` keys only say whether they advertise this fleet.
 */
export function deviceState(service: DiscoveredService, fleetId: string): string {
  const { txt } = service;
  if (txt.enrolled === "1") return txt.fleet === fleetId ? "member" : "other fleet";
  if (txt.setup === "0") return "awaiting setup";
  if (txt.setup === "1") return "set up";
  return txt.fleet === fleetId ? "member?" : "unknown";
}
