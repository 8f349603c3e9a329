// The netplan v2 subset a seed's `network-config` may use, and its validation. Only what firstboot
// turns into systemd-networkd and wpa_supplicant files is accepted: anything else is refused by
// name rather than silently ignored.
import { isIP } from "node:net";

/** One wired (or the IP side of a wireless) interface, in netplan's own key names. */
export interface NetworkInterface {
  /** Which links this applies to; absent: the key itself is the interface name. */
  match?: { name?: string; macaddress?: string };
  dhcp4?: boolean;
  /** Static addresses in CIDR form, e.g. "192.168.1.20/24". */
  addresses?: string[];
  /** Deprecated in netplan but common: the default IPv4 gateway. */
  gateway4?: string;
  routes?: { to: string; via: string }[];
  nameservers?: { addresses?: string[]; search?: string[] };
  /** true: boot does not wait for this link (systemd-networkd RequiredForOnline=no). */
  optional?: boolean;
}

export interface WifiInterface extends Omit<NetworkInterface, "match"> {
  /** SSID → its secret; no password: an open network. The password is a SECRET. */
  "access-points": Record<string, { password?: string; hidden?: boolean }>;
  /** Two-letter country code for the radio (wpa_supplicant `country=`), e.g. "DE". */
  "regulatory-domain"?: string;
}

export interface NetworkConfig {
  version: 2;
  /** Key: an id (or the interface name when there is no `match`). */
  ethernets?: Record<string, NetworkInterface>;
  /** Key: the wireless interface name, e.g. wlan0 (wpa_supplicant needs the real name). */
  wifis?: Record<string, WifiInterface>;
}

export interface NetworkProblem {
  field: string;
  problem: string;
}

const IFACE = /^[A-Za-z0-9_.-]{1,15}$/;
const IFACE_GLOB = /^[A-Za-z0-9_.*?-]{1,15}$/;
const MAC = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i;
const DOMAIN = /^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$/;
const PRINTABLE = /^[\x20-\x7e]+$/;

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

export function isCidr(text: unknown): boolean {
  if (typeof text !== "string") return false;
  const [addr, prefix, extra] = text.split("/");
  const family = isIP(addr ?? "");
  if (!family || extra !== undefined || !prefix || !/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

/** True when a Wi-Fi password (a secret) is present, so the file must leave the boot partition. */
export function networkHasSecrets(net: NetworkConfig | undefined): boolean {
  return Object.values(net?.wifis ?? {}).some((w) =>
    Object.values(w["access-points"] ?? {}).some((ap) => ap?.password !== undefined),
  );
}

function unknownKeys(obj: Record<string, unknown>, allowed: string[], at: string, add: Add): void {
  for (const key of Object.keys(obj))
    if (!allowed.includes(key))
      add(`${at}${key}`, `is not supported (supported here: ${allowed.join(", ")})`);
}

type Add = (field: string, problem: string) => void;

const IP_KEYS = ["dhcp4", "addresses", "gateway4", "routes", "nameservers", "optional"];

function ipProblems(iface: Record<string, unknown>, at: string, add: Add): void {
  if (iface.dhcp4 !== undefined && typeof iface.dhcp4 !== "boolean")
    add(`${at}.dhcp4`, "must be true or false");
  if (iface.optional !== undefined && typeof iface.optional !== "boolean")
    add(`${at}.optional`, "must be true or false");
  const addresses = iface.addresses;
  if (addresses !== undefined && !Array.isArray(addresses)) add(`${at}.addresses`, "must be a list");
  else
    addresses?.forEach((a, i) => {
      if (!isCidr(a))
        add(
          `${at}.addresses.${i}`,
          `${JSON.stringify(a)} must be an address with a prefix, e.g. 192.168.1.20/24`,
        );
    });
  if (iface.dhcp4 !== true && !(Array.isArray(addresses) && addresses.length > 0))
    add(at, "needs dhcp4: true or at least one static address");
  if (iface.gateway4 !== undefined && isIP(String(iface.gateway4)) !== 4)
    add(`${at}.gateway4`, "must be an IPv4 address");
  if (iface.routes !== undefined) {
    if (!Array.isArray(iface.routes)) add(`${at}.routes`, "must be a list");
    else
      iface.routes.forEach((r, i) => {
        const f = `${at}.routes.${i}`;
        if (!isObj(r)) {
          add(f, "must be a table with to and via");
          return;
        }
        unknownKeys(r, ["to", "via"], `${f}.`, add);
        if (r.to !== "default" && !isCidr(r.to))
          add(`${f}.to`, 'must be "default" or an address with a prefix');
        if (!isIP(String(r.via))) add(`${f}.via`, "must be an IP address");
      });
  }
  const ns = iface.nameservers;
  if (ns !== undefined) {
    if (!isObj(ns)) {
      add(`${at}.nameservers`, "must be a table with addresses and search");
      return;
    }
    unknownKeys(ns, ["addresses", "search"], `${at}.nameservers.`, add);
    if (ns.addresses !== undefined && !Array.isArray(ns.addresses))
      add(`${at}.nameservers.addresses`, "must be a list");
    else
      (ns.addresses as unknown[] | undefined)?.forEach((a, i) => {
        if (!isIP(String(a))) add(`${at}.nameservers.addresses.${i}`, "must be an IP address");
      });
    if (ns.search !== undefined && !Array.isArray(ns.search))
      add(`${at}.nameservers.search`, "must be a list");
    else
      (ns.search as unknown[] | undefined)?.forEach((d, i) => {
        if (typeof d !== "string" || !DOMAIN.test(d))
          add(`${at}.nameservers.search.${i}`, "must be a domain name");
      });
  }
}

function wifiProblems(id: string, wifi: Record<string, unknown>, add: Add): void {
  const at = `wifis.${id}`;
  unknownKeys(wifi, [...IP_KEYS, "access-points", "regulatory-domain"], `${at}.`, add);
  ipProblems(wifi, at, add);
  const rd = wifi["regulatory-domain"];
  if (rd !== undefined && (typeof rd !== "string" || !/^[A-Z]{2}$/.test(rd)))
    add(`${at}.regulatory-domain`, "must be a two-letter country code such as DE or US");
  const aps = wifi["access-points"];
  if (!isObj(aps) || Object.keys(aps).length === 0) {
    add(`${at}.access-points`, "must name at least one network (SSID: {password: …})");
    return;
  }
  for (const [ssid, ap] of Object.entries(aps)) {
    const f = `${at}.access-points.${ssid}`;
    if (Buffer.byteLength(ssid) > 32 || !PRINTABLE.test(ssid))
      add(f, "SSID must be 1-32 printable characters");
    if (ap === null) continue; // `"Guest": {}` or a bare key: an open network
    if (!isObj(ap)) {
      add(f, "must be a table such as {password: …}");
      continue;
    }
    unknownKeys(ap, ["password", "hidden"], `${f}.`, add);
    const pw = ap.password;
    // WPA2-PSK: a passphrase of 8-63 printable characters, or the 64-hex-digit key itself.
    if (
      pw !== undefined &&
      !(
        typeof pw === "string" &&
        ((PRINTABLE.test(pw) && pw.length >= 8 && pw.length <= 63) || /^[0-9a-fA-F]{64}$/.test(pw))
      )
    )
      add(`${f}.password`, "must be 8-63 printable characters (or a 64-hex-digit key)");
    if (ap.hidden !== undefined && typeof ap.hidden !== "boolean")
      add(`${f}.hidden`, "must be true or false");
  }
}

/** Every problem with a network-config, as field paths inside that file. */
export function networkProblems(net: unknown): NetworkProblem[] {
  const out: NetworkProblem[] = [];
  const add: Add = (field, problem) => out.push({ field, problem });
  if (!isObj(net)) return [{ field: "network", problem: "must be a table (netplan version 2)" }];
  unknownKeys(net, ["version", "ethernets", "wifis"], "", add);
  if (net.version !== 2) add("version", "must be 2 (netplan v2; v1 is not supported)");
  const ethernets = net.ethernets ?? {};
  if (!isObj(ethernets)) add("ethernets", "must be a table of interfaces");
  else
    for (const [id, iface] of Object.entries(ethernets)) {
      const at = `ethernets.${id}`;
      if (!IFACE.test(id)) add(at, "id must be 1-15 of A-Z a-z 0-9 _ . -");
      if (!isObj(iface)) {
        add(at, "must be a table");
        continue;
      }
      unknownKeys(iface, ["match", ...IP_KEYS], `${at}.`, add);
      if (iface.match !== undefined) {
        const m = iface.match;
        if (!isObj(m)) add(`${at}.match`, "must be a table with name or macaddress");
        else {
          unknownKeys(m, ["name", "macaddress"], `${at}.match.`, add);
          if (m.name === undefined && m.macaddress === undefined)
            add(`${at}.match`, "needs name or macaddress");
          if (m.name !== undefined && !(typeof m.name === "string" && IFACE_GLOB.test(m.name)))
            add(`${at}.match.name`, "must be an interface name or a glob such as en*");
          if (m.macaddress !== undefined && !(typeof m.macaddress === "string" && MAC.test(m.macaddress)))
            add(`${at}.match.macaddress`, "must be a MAC address such as dc:a6:32:01:02:03");
        }
      }
      ipProblems(iface, at, add);
    }
  const wifis = net.wifis ?? {};
  if (!isObj(wifis)) add("wifis", "must be a table of interfaces");
  else
    for (const [id, wifi] of Object.entries(wifis)) {
      if (!IFACE.test(id)) add(`wifis.${id}`, "must be the interface name, e.g. wlan0");
      if (!isObj(wifi)) add(`wifis.${id}`, "must be a table");
      else wifiProblems(id, wifi, add);
    }
  return out;
}
