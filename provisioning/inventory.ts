// The fleet inventory: one CSV row per device, checked as a whole before anything is written, so a
// typo on row 17 never leaves sixteen half-provisioned cards. Errors name the line and the field.
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { basename, dirname, isAbsolute, resolve } from "node:path";
// accounts.ts directly: the admin index would load Elysia just for one constant.
import { MIN_PASSWORD_LENGTH } from "../src/admin/accounts.ts";
import { DNS_LABEL, ROLES, type Role } from "../src/identity/enrolment.ts";
import { CsvSyntaxError, parseCsv } from "./csv.ts";
import { provisionError } from "./errors.ts";

export type NetworkSpec =
  | { mode: "dhcp" }
  | { mode: "static"; address: string; prefix: number; gateway?: string; dns: string[] };

export interface DeviceSpec {
  /** Line of the inventory this device came from. */
  line: number;
  /** Also the hostname and the mDNS name (the seed has one name for all three). */
  name: string;
  role: Role;
  network: NetworkSpec;
  wifi?: { ssid: string; psk?: string; country?: string };
  /** The SSH login user (in group sudo) and its OpenSSH public keys; absent: no login user. */
  ssh?: { user: string; keys: string[] };
  /** Plaintext (hashed before anything is written) or an argon2id hash; absent: the setup-code flow. */
  admin?: { password: string } | { hash: string };
  hubUrl?: string;
  certDays: number;
}

export const COLUMNS = [
  "name",
  "role",
  "network",
  "address",
  "gateway",
  "dns",
  "wifi_ssid",
  "wifi_psk",
  "wifi_country",
  "ssh_key",
  "ssh_user",
  "admin_password",
  "admin_password_hash",
  "hub_url",
  "cert_days",
] as const;
type Column = (typeof COLUMNS)[number];

const SSH_KEY =
  /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,2}( [^\r\n]*)?$/;
// What Bun.password.hash({ algorithm: "argon2id" }) writes (src/admin/accounts.ts stores the same form).
const ARGON2ID = /^\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;

class RowProblem extends Error {}
const fail = (message: string): never => {
  throw new RowProblem(message);
};

function checkIp(value: string, field: string): string {
  if (!isIP(value)) fail(`${field} '${value}' is not an IP address`);
  return value;
}

function parseNetwork(get: (c: Column) => string): NetworkSpec {
  const mode = get("network") || "dhcp";
  if (mode === "dhcp") {
    for (const c of ["address", "gateway", "dns"] as const)
      if (get(c)) fail(`${c} is set but network is dhcp; write network 'static' or leave ${c} empty`);
    return { mode };
  }
  if (mode !== "static") fail(`network '${mode}' is not dhcp or static`);
  const address = get("address");
  if (!address) fail("address is required for a static network, e.g. 192.168.1.20/24");
  const [ip = "", prefixText, ...extra] = address.split("/");
  const family = isIP(ip);
  const prefix = Number(prefixText);
  if (!family || extra.length > 0)
    fail(`address '${address}' is not an address with a prefix, e.g. 192.168.1.20/24`);
  if (prefixText === undefined || !/^\d+$/.test(prefixText) || prefix > (family === 4 ? 32 : 128))
    fail(`address '${address}' needs a prefix length, e.g. /24`);
  const gateway = get("gateway") ? checkIp(get("gateway"), "gateway") : undefined;
  const dns = get("dns")
    .split(/[\s;]+/)
    .filter(Boolean)
    .map((d) => checkIp(d, "dns"));
  return { mode: "static", address: ip, prefix, gateway, dns };
}

function parseWifi(get: (c: Column) => string): DeviceSpec["wifi"] {
  const ssid = get("wifi_ssid");
  const psk = get("wifi_psk");
  const country = get("wifi_country");
  if (!ssid) {
    if (psk || country) fail(`${psk ? "wifi_psk" : "wifi_country"} is set but wifi_ssid is empty`);
    return undefined;
  }
  if (Buffer.byteLength(ssid) > 32) fail("wifi_ssid is longer than 32 bytes");
  // WPA2: a passphrase of 8-63 printable ASCII characters, or the 64-hex-digit key itself.
  if (psk && !/^[\x20-\x7e]{8,63}$/.test(psk) && !/^[0-9a-fA-F]{64}$/.test(psk))
    fail("wifi_psk must be 8 to 63 printable ASCII characters or 64 hex digits");
  if (country && !/^[A-Z]{2}$/.test(country))
    fail(`wifi_country '${country}' is not a two-letter code like DE`);
  return { ssid, psk: psk || undefined, country: country || undefined };
}

/** Inline keys start with their type; anything else is a file, relative to the inventory. */
function parseSshKeys(value: string, baseDir: string): string[] {
  if (!value) return [];
  if (SSH_KEY.test(value)) return [value];
  if (/^(ssh-|ecdsa-|sk-)/.test(value)) fail(`ssh_key '${value.slice(0, 30)}…' is not an OpenSSH public key`);
  const path = isAbsolute(value) ? value : resolve(baseDir, value);
  let text = "";
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    fail(`ssh_key file ${value} cannot be read (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
  const keys = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  if (keys.length === 0) fail(`ssh_key file ${value} holds no key`);
  for (const k of keys)
    if (!SSH_KEY.test(k)) fail(`ssh_key file ${value} holds a line that is not a public key`);
  return keys;
}

function parseSsh(get: (c: Column) => string, baseDir: string): DeviceSpec["ssh"] {
  const keys = parseSshKeys(get("ssh_key"), baseDir);
  const user = get("ssh_user") || "admin";
  if (keys.length === 0) {
    if (get("ssh_user")) fail("ssh_user is set but ssh_key is empty; a login user needs a key");
    return undefined;
  }
  // Reserved names (root, kiana, …) are refused by the seed's own check, still with this line number.
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(user))
    fail(`ssh_user '${user}' is not a login name (a-z, 0-9, _ and -)`);
  return { user, keys };
}

function parseAdmin(get: (c: Column) => string): DeviceSpec["admin"] {
  const password = get("admin_password");
  const hash = get("admin_password_hash");
  if (password && hash) fail("admin_password and admin_password_hash are both set; keep one");
  if (password) {
    if (password.length < MIN_PASSWORD_LENGTH)
      fail(`admin_password needs at least ${MIN_PASSWORD_LENGTH} characters`);
    return { password };
  }
  if (hash) {
    if (!ARGON2ID.test(hash)) fail("admin_password_hash is not an argon2id hash ($argon2id$v=19$m=…)");
    return { hash };
  }
  return undefined;
}

function parseRow(get: (c: Column) => string, baseDir: string, line: number): DeviceSpec {
  const name = get("name");
  if (!name) fail("name is empty");
  if (!DNS_LABEL.test(name)) fail(`name '${name}' is not a DNS label (a-z, 0-9, dashes, at most 63)`);
  const role = get("role");
  if (!(ROLES as readonly string[]).includes(role)) fail(`role '${role}' is not hub, node or satellite`);
  const hubUrl = get("hub_url") || undefined;
  if (hubUrl) {
    if (role === "hub") fail("hub_url is set on a hub; only nodes and satellites look for a hub");
    // The seed takes the hub's admin origin only (src/seed/schema.ts), so no path here either.
    if (!/^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?\/?$/.test(hubUrl))
      fail(`hub_url '${hubUrl}' is not http://host:port`);
  }
  const daysText = get("cert_days") || "365";
  const certDays = Number(daysText);
  if (!/^\d+$/.test(daysText) || certDays < 1 || certDays > 3650)
    fail(`cert_days '${daysText}' is not a whole number of days from 1 to 3650`);
  return {
    line,
    name,
    role: role as Role,
    network: parseNetwork(get),
    wifi: parseWifi(get),
    ssh: parseSsh(get, baseDir),
    admin: parseAdmin(get),
    hubUrl,
    certDays,
  };
}

/**
 * Parses and checks a whole inventory. Throws PROVISION_INVENTORY_INVALID listing every problem as
 * `<file> line N: …`. `label` is the name shown in messages, `baseDir` resolves ssh_key files.
 */
export function parseInventory(text: string, opts: { label: string; baseDir: string }): DeviceSpec[] {
  const problems: string[] = [];
  const at = (line: number, message: string) => problems.push(`${opts.label} line ${line}: ${message}`);
  let records: ReturnType<typeof parseCsv>;
  try {
    records = parseCsv(text);
  } catch (err) {
    if (!(err instanceof CsvSyntaxError)) throw err;
    throw provisionError("PROVISION_INVENTORY_INVALID", `${opts.label} line ${err.line}: ${err.message}`);
  }
  const [header, ...rows] = records;
  if (!header)
    throw provisionError("PROVISION_INVENTORY_INVALID", `${opts.label} is empty: it needs a header row`);
  const names = header.fields.map((f) =>
    f
      .trim()
      .toLowerCase()
      .replace(/[\s-]+/g, "_"),
  );
  names.forEach((n, i) => {
    if (!(COLUMNS as readonly string[]).includes(n))
      at(header.line, `column '${n}' is unknown (known: ${COLUMNS.join(", ")})`);
    else if (names.indexOf(n) !== i) at(header.line, `column '${n}' appears twice`);
  });
  for (const required of ["name", "role"])
    if (!names.includes(required)) at(header.line, `the header has no '${required}' column`);
  if (problems.length > 0) throw provisionError("PROVISION_INVENTORY_INVALID", problems.join("\n"));
  if (rows.length === 0)
    throw provisionError("PROVISION_INVENTORY_INVALID", `${opts.label} lists no devices`);

  const devices: DeviceSpec[] = [];
  const seen = new Map<string, number>();
  for (const row of rows) {
    if (row.fields.length > names.length) {
      at(row.line, `${row.fields.length} fields but the header has ${names.length} columns`);
      continue;
    }
    const get = (c: Column) => (row.fields[names.indexOf(c)] ?? "").trim();
    try {
      const d = parseRow(get, opts.baseDir, row.line);
      // Two rows with one name would get two certificates for the same device name.
      for (const [kind, value] of [
        ["name", d.name],
        ["address", d.network.mode === "static" ? d.network.address : ""],
      ] as const) {
        if (!value) continue;
        const first = seen.get(`${kind}:${value}`);
        if (first !== undefined) fail(`${kind} '${value}' is already used on line ${first}`);
        seen.set(`${kind}:${value}`, row.line);
      }
      devices.push(d);
    } catch (err) {
      if (!(err instanceof RowProblem)) throw err;
      at(row.line, err.message);
    }
  }
  if (problems.length > 0) throw provisionError("PROVISION_INVENTORY_INVALID", problems.join("\n"));
  return devices;
}

export function readInventory(path: string): DeviceSpec[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw provisionError("PROVISION_USAGE", `cannot read the inventory ${path}: ${(err as Error).message}`);
  }
  return parseInventory(text, { label: basename(path), baseDir: dirname(resolve(path)) });
}
