// DNS-SD over mDNS as plain values: the record set we advertise, answers to queries, and a record
// cache that turns received packets into discovered services. No sockets; never throws on input.
import { isIPv4, isIPv6 } from "node:net";
import type { Question, SrvAnswer, StringAnswer, TxtAnswer } from "dns-packet";

/** The record kinds we send; narrower than dns-packet's `Answer`, so `ttl` and `data` are typed. */
export type Answer = StringAnswer | SrvAnswer | TxtAnswer;

export type ServiceType = "kiana" | "mqtt";

export const SERVICE_DOMAINS: Readonly<Record<ServiceType, string>> = {
  kiana: "_kiana._tcp.local",
  mqtt: "_mqtt._tcp.local",
};
/** RFC 6763 §9: lets generic browsers list which service types exist on the link. */
export const ENUMERATION_DOMAIN = "_services._dns-sd._udp.local";
/**
 * One TTL for every record. RFC 6762 suggests 75 minutes for PTR/TXT, but a board that loses
 * power sends no goodbye, and peers should forget it within minutes, not an hour.
 */
export const DEFAULT_TTL_S = 120;
/** Hostile TTLs must not pin an entry forever. */
const MAX_TTL_S = 86_400;
/** A flood of fake services must not grow memory without bound. */
export const MAX_CACHED_RECORDS = 1024;

export interface DiscoveredService {
  type: ServiceType;
  /** The instance label, e.g. `kitchen` of `kitchen._kiana._tcp.local`. */
  instance: string;
  /** Target host of the SRV record, e.g. `kiana-kitchen.local`. */
  host: string;
  port: number;
  /** IPv4 first, then IPv6, each sorted. */
  addresses: string[];
  /** Valid TXT entries, keys lowercased; unknown keys are kept. */
  txt: Record<string, string>;
  /** Smallest advertised TTL (seconds) of the PTR and SRV records. */
  ttl: number;
  /** Wall-clock ms when a record of this service was last received. */
  seenAt: number;
  /** Why TXT entries were ignored, for logs and `kiana doctor`. */
  problems: string[];
}

export interface ServiceSpec {
  type: ServiceType;
  instance: string;
  /** `kiana-kitchen` or `kiana-kitchen.local`. */
  hostname: string;
  port: number;
  txt: Record<string, string>;
  addresses: readonly string[];
  ttl?: number;
}

/** What we advertise, split by role so a query can be answered with just the relevant part. */
export interface ServiceRecordSet {
  ptr: Answer;
  srv: Answer;
  txt: Answer;
  hosts: Answer[];
  enumeration: Answer;
}

export interface KianaTxtFields {
  fingerprint: string;
  role: string;
  version: string;
  adminPort: number;
  fleet: string;
  /** Whether the admin password is set (`setup=1`); absent: not advertised. */
  setUp?: boolean;
  /** Whether the device holds a fleet certificate (`enrolled=1`); absent: not advertised. */
  enrolled?: boolean;
}

// Known kiana TXT keys and what a valid value looks like; checked on build and on parse.
const KIANA_KEYS: Record<string, (v: string) => boolean> = {
  fp: (v) => /^[0-9a-f]{32}$/.test(v),
  role: (v) => v === "hub" || v === "node" || v === "satellite",
  ver: (v) => /^\d{1,5}\.\d{1,5}\.\d{1,5}(?:[-+][0-9A-Za-z.+-]{1,64})?$/.test(v),
  admin: (v) => /^\d{1,5}$/.test(v) && Number(v) >= 1 && Number(v) <= 65535,
  fleet: (v) => /^[a-z0-9][a-z0-9-]{0,62}$/.test(v),
  setup: (v) => v === "0" || v === "1",
  enrolled: (v) => v === "0" || v === "1",
};

export function kianaTxt(f: KianaTxtFields): Record<string, string> {
  const txt: Record<string, string> = {
    fp: f.fingerprint,
    role: f.role,
    ver: f.version,
    admin: String(f.adminPort),
    fleet: f.fleet,
  };
  // One byte each: `fleet adopt` reads a device's state from the browse answer, without asking it.
  if (f.setUp !== undefined) txt.setup = f.setUp ? "1" : "0";
  if (f.enrolled !== undefined) txt.enrolled = f.enrolled ? "1" : "0";
  return txt;
}

/** `node.name`'s default (src/config/schema.ts): what every device that nobody named calls itself. */
export const UNCONFIGURED_NAME = "kiana";

/**
 * The mDNS instance label. An unenrolled device still called `kiana` adds the first four hex digits
 * of its fingerprint, so fresh devices on one LAN show as separate entries (and hosts `kiana-kiana-3f2a`)
 * without the conflict probing this responder does not do.
 */
export function kianaInstanceName(name: string, fingerprint: string, enrolled: boolean): string {
  return !enrolled && name === UNCONFIGURED_NAME ? `${name}-${fingerprint.slice(0, 4)}` : name;
}

const utf8 = new TextEncoder();

export function hostFqdn(hostname: string): string {
  const h = hostname.toLowerCase();
  return h.endsWith(".local") ? h : `${h}.local`;
}

/** Builds our records; throws on our own bad values (a config bug, caught at start). */
export function buildServiceRecords(spec: ServiceSpec): ServiceRecordSet {
  const ttl = spec.ttl ?? DEFAULT_TTL_S;
  const domain = SERVICE_DOMAINS[spec.type];
  const label = spec.instance;
  // dns-packet splits names on dots without escaping, so a dot would change the name's meaning.
  if (!label || label.includes(".") || utf8.encode(label).length > 63) {
    throw new Error(`mdns: instance name "${label}" must be 1-63 bytes without dots`);
  }
  const host = hostFqdn(spec.hostname);
  if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.local$/.test(host)) {
    throw new Error(`mdns: hostname "${spec.hostname}" is not a DNS label`);
  }
  if (!Number.isInteger(spec.port) || spec.port < 1 || spec.port > 65535) {
    throw new Error(`mdns: port ${spec.port} out of range`);
  }
  const strings: string[] = [];
  for (const [key, value] of Object.entries(spec.txt)) {
    const entry = `${key}=${value}`;
    if (!/^[\x21-\x3c\x3e-\x7e]{1,9}$/.test(key) || utf8.encode(entry).length > 255) {
      throw new Error(`mdns: TXT entry "${key}" has a bad key or is longer than 255 bytes`);
    }
    const check = spec.type === "kiana" ? KIANA_KEYS[key] : undefined;
    if (check && !check(value)) throw new Error(`mdns: TXT ${key}="${value}" is not valid`);
    strings.push(entry);
  }
  const instance = `${label}.${domain}`;
  const hosts: Answer[] = [];
  for (const address of [...new Set(spec.addresses)]) {
    if (isIPv4(address)) hosts.push({ name: host, type: "A", ttl, flush: true, data: address });
    else if (isIPv6(address)) hosts.push({ name: host, type: "AAAA", ttl, flush: true, data: address });
    else throw new Error(`mdns: "${address}" is not an IP address`);
  }
  return {
    // PTR is shared (many instances answer it), so no cache-flush bit; the rest are ours alone.
    ptr: { name: domain, type: "PTR", ttl, data: instance },
    srv: { name: instance, type: "SRV", ttl, flush: true, data: { target: host, port: spec.port } },
    txt: { name: instance, type: "TXT", ttl, flush: true, data: strings.length ? strings : [""] },
    hosts,
    enumeration: { name: ENUMERATION_DOMAIN, type: "PTR", ttl, data: domain },
  };
}

export function allRecords(set: ServiceRecordSet): Answer[] {
  return [set.ptr, set.srv, set.txt, ...set.hosts];
}

/** RFC 6762 §10.1: the same records with TTL 0 tell caches to drop them now. */
export function goodbyeRecords(records: readonly Answer[]): Answer[] {
  return records.map((r) => ({ ...r, ttl: 0 }) as Answer);
}

/** Our answer to a query, or null when nothing asked concerns us or the asker already knows it. */
export function answerQuery(
  query: unknown,
  own: ServiceRecordSet,
): { answers: Answer[]; additionals: Answer[] } | null {
  const q = asObject(query);
  if (!q || !Array.isArray(q.questions)) return null;
  const answers: Answer[] = [];
  const add = (r: Answer) => {
    if (!answers.includes(r)) answers.push(r);
  };
  const srvName = own.srv.name.toLowerCase();
  const hostName = (own.hosts[0]?.name ?? "").toLowerCase();
  for (const raw of q.questions.slice(0, 64)) {
    const question = asObject(raw);
    if (!question || typeof question.name !== "string" || typeof question.type !== "string") continue;
    const name = question.name.toLowerCase();
    const type = question.type;
    const any = type === "ANY";
    if (name === own.ptr.name && (any || type === "PTR")) add(own.ptr);
    if (name === ENUMERATION_DOMAIN && (any || type === "PTR")) add(own.enumeration);
    if (name === srvName && (any || type === "SRV")) add(own.srv);
    if (name === srvName && (any || type === "TXT")) add(own.txt);
    for (const h of own.hosts) if (name === hostName && (any || type === h.type)) add(h);
  }
  // Known-answer suppression (RFC 6762 §7.1): skip records the asker holds with over half their TTL.
  const known = Array.isArray(q.answers) ? q.answers.slice(0, 256) : [];
  const fresh = answers.filter((r) => !known.some((k) => sameRecord(k, r) && ttlOf(k) * 2 >= (r.ttl ?? 0)));
  if (fresh.length === 0) return null;
  const additionals = [own.srv, own.txt, ...own.hosts].filter((r) => !fresh.includes(r));
  return {
    answers: fresh,
    additionals: fresh.includes(own.ptr) || fresh.includes(own.srv) ? additionals : [],
  };
}

function sameRecord(raw: unknown, ours: Answer): boolean {
  const k = asObject(raw);
  if (!k || typeof k.name !== "string" || k.type !== ours.type) return false;
  if (k.name.toLowerCase() !== ours.name.toLowerCase()) return false;
  return (
    typeof k.data === "string" &&
    typeof ours.data === "string" &&
    k.data.toLowerCase() === ours.data.toLowerCase()
  );
}

function ttlOf(raw: unknown): number {
  const ttl = asObject(raw)?.ttl;
  return typeof ttl === "number" ? ttl : 0;
}

function asObject(v: unknown): Record<string, unknown> | null {
  return typeof v === "object" && v !== null ? (v as Record<string, unknown>) : null;
}

// ---- Receiving: validated records, a bounded cache, services assembled from it. ----

export type RecordData =
  | { type: "PTR"; target: string }
  | { type: "SRV"; target: string; port: number }
  | { type: "TXT"; strings: Uint8Array[] }
  | { type: "A" | "AAAA"; address: string };
export type MdnsRecord = RecordData & { name: string; ttl: number; flush: boolean; receivedAt: number };
/** Keyed by `cacheKey`; one SRV and one TXT per instance, one entry per address. */
export type RecordCache = Map<string, MdnsRecord>;

function cacheKey(r: MdnsRecord): string {
  const name = r.name.toLowerCase();
  if (r.type === "PTR") return `${name}|PTR|${r.target.toLowerCase()}`;
  if (r.type === "A" || r.type === "AAAA") return `${name}|${r.type}|${r.address}`;
  return `${name}|${r.type}`;
}

/** Validates every answer and additional of a response; the rest of the packet is ignored. */
export function extractRecords(packet: unknown, now: number): { records: MdnsRecord[]; problems: string[] } {
  const records: MdnsRecord[] = [];
  const problems: string[] = [];
  const p = asObject(packet);
  if (p?.type !== "response") return { records, problems };
  for (const section of [p.answers, p.additionals]) {
    if (section === undefined) continue;
    if (!Array.isArray(section)) {
      problems.push("answer section is not a list");
      continue;
    }
    for (const raw of section.slice(0, 256)) {
      const r = toRecord(raw, now);
      if (typeof r === "string") problems.push(r);
      else if (r) records.push(r);
    }
  }
  return { records, problems };
}

function toRecord(raw: unknown, now: number): MdnsRecord | string | null {
  const a = asObject(raw);
  if (!a) return "record is not an object";
  const { name, type, ttl, data } = a;
  if (type !== "PTR" && type !== "SRV" && type !== "TXT" && type !== "A" && type !== "AAAA") return null;
  if (typeof name !== "string" || name.length === 0 || name.length > 255)
    return `${type} record without a valid name`;
  if (a.class !== undefined && a.class !== "IN") return `${type} ${name}: class ${String(a.class)}`;
  if (typeof ttl !== "number" || !Number.isInteger(ttl) || ttl < 0) return `${type} ${name}: bad ttl`;
  const base = { name, ttl: Math.min(ttl, MAX_TTL_S), flush: a.flush === true, receivedAt: now };
  if (type === "PTR" || type === "A" || type === "AAAA") {
    if (typeof data !== "string") return `${type} ${name}: data is not a string`;
    if (type === "PTR")
      return data.length > 0 && data.length <= 255
        ? { ...base, type, target: data }
        : `PTR ${name}: bad target`;
    const ok = type === "A" ? isIPv4(data) : isIPv6(data);
    return ok
      ? { ...base, type, address: data }
      : `${type} ${name}: "${data.slice(0, 64)}" is not an address`;
  }
  const d = asObject(data);
  if (type === "SRV") {
    const port = d?.port;
    const target = d?.target;
    if (typeof target !== "string" || target.length === 0 || target.length > 255)
      return `SRV ${name}: bad target`;
    if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535)
      return `SRV ${name}: bad port`;
    return { ...base, type, target, port };
  }
  const list = Array.isArray(data) ? data : [data];
  const strings = list.filter((s): s is Uint8Array => s instanceof Uint8Array);
  if (strings.length !== list.length) return `TXT ${name}: data is not a list of byte strings`;
  return { ...base, type, strings: strings.slice(0, 64) };
}

/** RFC 6763 §6: `key=value` strings, keys case-insensitive, first occurrence wins. */
export function parseTxt(
  type: ServiceType,
  strings: readonly Uint8Array[],
): { txt: Record<string, string>; problems: string[] } {
  const txt: Record<string, string> = {};
  const problems: string[] = [];
  const decoder = new TextDecoder("utf-8", { fatal: true });
  for (const bytes of strings) {
    if (bytes.length === 0) continue; // an empty TXT record is a single empty string
    let entry: string;
    try {
      entry = decoder.decode(bytes);
    } catch {
      problems.push("TXT entry is not UTF-8");
      continue;
    }
    const eq = entry.indexOf("=");
    const key = (eq < 0 ? entry : entry.slice(0, eq)).toLowerCase();
    if (eq < 0) {
      problems.push(`TXT "${key.slice(0, 32)}" has no value`);
    } else if (!/^[\x20-\x3c\x3e-\x7e]+$/.test(key)) {
      problems.push("TXT key is empty or not printable ASCII");
    } else if (Object.hasOwn(txt, key)) {
      problems.push(`TXT ${key} repeated`);
    } else {
      const value = entry.slice(eq + 1);
      const check = type === "kiana" ? KIANA_KEYS[key] : undefined;
      if (check && !check(value)) problems.push(`TXT ${key}="${value.slice(0, 64)}" is not valid`);
      else txt[key] = value;
    }
  }
  return { txt, problems };
}

/**
 * Merges received records: TTL 0 removes (goodbye), the cache-flush bit replaces older records of
 * the same name and type (RFC 6762 §10.2, older than one second), and only records about
 * `_kiana._tcp` / `_mqtt._tcp` are kept, so other services on a busy LAN cost nothing.
 */
export function applyRecords(cache: RecordCache, records: readonly MdnsRecord[], now: number): string[] {
  const problems: string[] = [];
  const domains = Object.values(SERVICE_DOMAINS);
  const targets = new Set<string>();
  for (const r of [...cache.values(), ...records]) if (r.type === "SRV") targets.add(r.target.toLowerCase());
  const relevant = (r: MdnsRecord) => {
    const name = r.name.toLowerCase();
    if (r.type === "PTR") return domains.includes(name);
    if (r.type === "SRV" || r.type === "TXT") return domains.some((d) => name.endsWith(`.${d}`));
    return targets.has(name);
  };
  const kept = records.filter(relevant);
  const flushGroups = new Set(
    kept.filter((r) => r.flush && r.ttl > 0).map((r) => `${r.name.toLowerCase()}|${r.type}|`),
  );
  for (const [key, old] of cache) {
    const group = `${old.name.toLowerCase()}|${old.type}|`;
    if (old.receivedAt < now - 1000 && flushGroups.has(group)) cache.delete(key);
  }
  for (const r of kept) {
    const key = cacheKey(r);
    if (r.ttl === 0) cache.delete(key);
    else if (!cache.has(key) && cache.size >= MAX_CACHED_RECORDS)
      problems.push(`cache full, ${r.type} ${r.name} dropped`);
    else cache.set(key, r);
  }
  return problems;
}

const expiresAt = (r: MdnsRecord) => r.receivedAt + r.ttl * 1000;

/** Drops records whose TTL ran out; true when anything went. */
export function expireRecords(cache: RecordCache, now: number): boolean {
  let changed = false;
  for (const [key, r] of cache) {
    if (expiresAt(r) <= now) {
      cache.delete(key);
      changed = true;
    }
  }
  return changed;
}

export function servicesFromCache(cache: RecordCache, type: ServiceType): DiscoveredService[] {
  const domain = SERVICE_DOMAINS[type];
  const byName = new Map<string, MdnsRecord[]>();
  for (const r of cache.values()) {
    const name = r.name.toLowerCase();
    byName.set(name, [...(byName.get(name) ?? []), r]);
  }
  const out: DiscoveredService[] = [];
  for (const ptr of byName.get(domain) ?? []) {
    if (ptr.type !== "PTR") continue;
    const fqdn = ptr.target.toLowerCase();
    if (!fqdn.endsWith(`.${domain}`)) continue;
    const own = byName.get(fqdn) ?? [];
    const srv = own.find((r) => r.type === "SRV");
    if (srv?.type !== "SRV") continue; // not resolvable yet
    const txtRec = own.find((r) => r.type === "TXT");
    const { txt, problems } = parseTxt(type, txtRec?.type === "TXT" ? txtRec.strings : []);
    const hostRecords = byName.get(srv.target.toLowerCase()) ?? [];
    const v4 = hostRecords.flatMap((r) => (r.type === "A" ? [r.address] : [])).sort();
    const v6 = hostRecords.flatMap((r) => (r.type === "AAAA" ? [r.address] : [])).sort();
    out.push({
      type,
      instance: ptr.target.slice(0, ptr.target.length - domain.length - 1),
      host: srv.target,
      port: srv.port,
      addresses: [...v4, ...v6],
      txt,
      ttl: Math.min(ptr.ttl, srv.ttl),
      seenAt: Math.max(ptr.receivedAt, srv.receivedAt, txtRec?.receivedAt ?? 0),
      problems,
    });
  }
  return out.sort((a, b) => (a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : 0));
}

/** PTRs we hold with over half their TTL left, sent with a query so responders stay quiet. */
export function knownAnswers(cache: RecordCache, type: ServiceType, now: number): Answer[] {
  const domain = SERVICE_DOMAINS[type];
  const out: Answer[] = [];
  for (const r of cache.values()) {
    const left = Math.floor((expiresAt(r) - now) / 1000);
    if (r.type === "PTR" && r.name.toLowerCase() === domain && left * 2 > r.ttl) {
      out.push({ name: domain, type: "PTR", ttl: left, data: r.target });
    }
  }
  return out.slice(0, 32);
}

/**
 * Questions that keep the cache useful: records past 80% of their TTL (RFC 6762 §5.2) and
 * services still missing their SRV, TXT or address. Empty when nothing needs asking.
 */
export function refreshQuestions(cache: RecordCache, type: ServiceType, now: number): Question[] {
  const domain = SERVICE_DOMAINS[type];
  const wanted = new Map<string, Question>();
  const ask = (name: string, qtype: Question["type"]) =>
    wanted.set(`${name.toLowerCase()}|${qtype}`, { name, type: qtype });
  const names = new Set([...cache.values()].map((r) => `${r.name.toLowerCase()}|${r.type}`));
  for (const r of cache.values()) {
    const name = r.name.toLowerCase();
    const isOurs = name === domain || name.endsWith(`.${domain}`);
    if (r.type === "PTR" && name === domain) {
      const target = r.target.toLowerCase();
      if (!names.has(`${target}|SRV`)) ask(r.target, "SRV");
      if (!names.has(`${target}|TXT`)) ask(r.target, "TXT");
    }
    if (r.type === "SRV" && isOurs) {
      const target = r.target.toLowerCase();
      if (!names.has(`${target}|A`) && !names.has(`${target}|AAAA`)) ask(r.target, "A");
    }
    const aged = now - r.receivedAt >= r.ttl * 800;
    if (aged && isOurs) ask(r.type === "PTR" ? domain : r.name, r.type);
    if (aged && (r.type === "A" || r.type === "AAAA")) ask(r.name, r.type);
  }
  return [...wanted.values()].slice(0, 32);
}
