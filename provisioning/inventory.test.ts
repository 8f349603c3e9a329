// The inventory as an operator writes it: the example file parses, and each kind of mistake is
// reported with its line and field before anything else happens.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseCsv } from "./csv.ts";
import { parseInventory, readInventory } from "./inventory.ts";
import { draftSeeds } from "./seed-draft.ts";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDx3cbzn1NcyB7yBKNYr8z3Pp7b1bXqUmv2Ve9Frq4Lk op@laptop";
const HEADER = "name,role,network,address,gateway,dns,wifi_ssid,wifi_psk,wifi_country,ssh_key,admin_password";
const GOOD = "hub,hub,dhcp,,,,,,,,correct horse battery";
const dir = mkdtempSync(join(tmpdir(), "kiana-inventory-"));
const parse = (rows: string[], header = HEADER) =>
  parseInventory([header, ...rows].join("\n"), { label: "fleet.csv", baseDir: dir });
const problem = (rows: string[], header?: string) => {
  try {
    parse(rows, header);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("the inventory was accepted");
};

test("the example inventory parses: static and DHCP, Wi-Fi with a quoted comma, a key, a password or a hash", () => {
  const devices = readInventory(join(import.meta.dir, "fleet.example.csv"));
  expect(devices.map((d) => [d.line, d.name, d.role])).toEqual([
    [3, "hub", "hub"],
    [4, "attic", "node"],
    [5, "kitchen", "satellite"],
    [6, "porch", "satellite"],
  ]);
  const [hub, attic, kitchen] = devices;
  expect(hub?.network).toEqual({
    mode: "static",
    address: "192.168.1.10",
    prefix: 24,
    gateway: "192.168.1.1",
    dns: ["192.168.1.1", "9.9.9.9"],
  });
  expect(hub?.certDays).toBe(730);
  expect(attic?.ssh?.user).toBe("ops");
  expect(attic?.hubUrl).toBe("http://192.168.1.10:8080");
  expect(kitchen?.wifi).toEqual({ ssid: "Home WiFi", psk: "a passphrase, with a comma", country: "DE" });
  expect(kitchen?.admin && "hash" in kitchen.admin).toBe(true);
});

test("CSV: quotes with escaped quotes and line breaks, CRLF, comments; records keep their start line", () => {
  const records = parseCsv('# note\r\na,"b ""x""",c\r\n\r\n"multi\nline",2,3\n');
  expect(records).toEqual([
    { line: 2, fields: ["a", 'b "x"', "c"] },
    { line: 4, fields: ["multi\nline", "2", "3"] },
  ]);
  expect(() => parseCsv('a,"open\n')).toThrow("not closed");
});

describe("a bad row names its line and field", () => {
  const cases: [string, string[], string][] = [
    ["role typo", [GOOD, "kitchen,hubb"], "fleet.csv line 3: role 'hubb' is not hub, node or satellite"],
    ["empty name", [",node"], "fleet.csv line 2: name is empty"],
    ["name not a DNS label", ["Kitchen_1,node"], "fleet.csv line 2: name 'Kitchen_1' is not a DNS label"],
    ["duplicate name", [GOOD, "hub,node"], "fleet.csv line 3: name 'hub' is already used on line 2"],
    ["unknown network", ["a,node,ppp"], "fleet.csv line 2: network 'ppp' is not dhcp or static"],
    ["static without address", ["a,node,static"], "line 2: address is required for a static network"],
    [
      "address without prefix",
      ["a,node,static,10.0.0.5"],
      "line 2: address '10.0.0.5' needs a prefix length",
    ],
    ["bad gateway", ["a,node,static,10.0.0.5/24,10.0.0"], "line 2: gateway '10.0.0' is not an IP address"],
    ["bad dns", ["a,node,static,10.0.0.5/24,,1.1.1.1 x"], "line 2: dns 'x' is not an IP address"],
    ["address with dhcp", ["a,node,dhcp,10.0.0.5/24"], "line 2: address is set but network is dhcp"],
    [
      "same static address",
      ["a,node,static,10.0.0.5/24", "b,node,static,10.0.0.5/24"],
      "line 3: address '10.0.0.5' is already used on line 2",
    ],
    ["psk without ssid", ["a,node,,,,,,secretpass"], "line 2: wifi_psk is set but wifi_ssid is empty"],
    ["short psk", ["a,node,,,,,home,short"], "line 2: wifi_psk must be 8 to 63"],
    ["bad country", ["a,node,,,,,home,,de"], "line 2: wifi_country 'de' is not a two-letter code"],
    ["short password", ["a,node,,,,,,,,,short"], "line 2: admin_password needs at least 10 characters"],
    [
      "missing key file",
      ["a,node,,,,,,,,keys/none.pub"],
      "line 2: ssh_key file keys/none.pub cannot be read (ENOENT)",
    ],
    [
      "mangled inline key",
      ["a,node,,,,,,,,ssh-ed25519 !!"],
      "line 2: ssh_key 'ssh-ed25519 !!…' is not an OpenSSH public key",
    ],
    ["too many fields", ["a,node,,,,,,,,,,extra"], "line 2: 12 fields but the header has 11 columns"],
  ];
  for (const [what, rows, message] of cases)
    test(what, () => {
      expect(problem(rows)).toContain(message);
    });

  test("header problems: unknown column, no role column", () => {
    expect(problem(["a"], "name,colour")).toContain("fleet.csv line 1: column 'colour' is unknown");
    expect(problem(["a"], "name,colour")).toContain("fleet.csv line 1: the header has no 'role' column");
  });

  test("every bad row is listed at once, not just the first", () => {
    const message = problem(["a,hubb", GOOD, "c,node,ppp"]);
    expect(message.split("\n")).toEqual([
      "fleet.csv line 2: role 'hubb' is not hub, node or satellite",
      "fleet.csv line 4: network 'ppp' is not dhcp or static",
    ]);
  });

  test("cells the seed refuses are reported by line too (reserved login name, hash form)", async () => {
    const devices = parse(["a,node,,,,,,,,,"]);
    expect(devices[0]?.admin).toBeUndefined();
    const header = "name,role,ssh_key,ssh_user,admin_password_hash";
    const rows = parse([`a,node,${KEY},root`], header);
    const err = await draftSeeds(rows, { fleetId: "home", label: "fleet.csv", now: 0 }).catch(
      (e: Error) => e,
    );
    expect((err as Error).message).toBe(
      'fleet.csv line 2: seed user-data: users.0.name "root" is reserved for the system',
    );
    expect(problem(["a,node,,,$2b$10$abc"], header)).toContain(
      "line 2: admin_password_hash is not an argon2id hash",
    );
  });
});

test("ssh_key names a file relative to the inventory, which may hold several keys", () => {
  writeFileSync(join(dir, "ops.pub"), `# the operators\n${KEY}\n${KEY.replace("op@laptop", "backup")}\n`);
  const [d] = parse(["a,node,,,,,,,,ops.pub"]);
  expect(d?.ssh).toEqual({ user: "admin", keys: [KEY, KEY.replace("op@laptop", "backup")] });
});

test("a plaintext password becomes an argon2id hash the admin login accepts; the plaintext is gone", async () => {
  const [draft] = await draftSeeds(parse([GOOD]), { fleetId: "home", label: "fleet.csv", now: 0 });
  const hash = draft?.seed.admin?.passwordHash ?? "";
  expect(hash.startsWith("$argon2id$")).toBe(true);
  expect(await Bun.password.verify("correct horse battery", hash)).toBe(true);
  expect(JSON.stringify(draft?.seed)).not.toContain("correct horse battery");
});
