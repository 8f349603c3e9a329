import { describe, expect, test } from "bun:test";
import { isKianaError } from "../errors.ts";
import { type Seed, validateSeed } from "./schema.ts";
import { testSeed } from "./seed.test-helper.ts";
import { parseSeedFiles, renderSeedFiles, type SeedFile } from "./seed-files.ts";

const good = testSeed();
const text = (f: SeedFile) => new TextDecoder().decode(f.bytes);
const utf8 = (s: string) => new TextEncoder().encode(s);

/** The SEED_INVALID error's message, or a failure when it did not throw one. */
function seedErrorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isKianaError(err, "SEED_INVALID")) return err.message;
    throw err;
  }
  throw new Error("expected SEED_INVALID, nothing was thrown");
}

function withFile(name: string, edit: (text: string) => string): SeedFile[] {
  return renderSeedFiles(good).map((f) => (f.path === name ? { ...f, bytes: utf8(edit(text(f))) } : f));
}

describe("bad files are refused naming the file and the field", () => {
  const cases: [string, string, (t: string) => string, string][] = [
    ["kiana.toml", "not TOML", () => "node = [", "kiana.toml: (file) is not valid TOML"],
    [
      "kiana.toml",
      "bad name",
      (t) => t.replace("name = 'kitchen'", "name = 'Kitchen_1'"),
      "kiana.toml: node.name",
    ],
    [
      "kiana.toml",
      "bad role",
      (t) => t.replace("role = 'satellite'", "role = 'speaker'"),
      "kiana.toml: node.role must be one of hub, node, satellite",
    ],
    [
      "kiana.toml",
      "bad fleet",
      (t) => t.replace("fleet = 'home'", "fleet = 'Home!'"),
      "kiana.toml: node.fleet",
    ],
    [
      "kiana.toml",
      "bad hub URL",
      (t) => t.replace("http://hub.local:8080", "hub.local"),
      "kiana.toml: node.hubUrl",
    ],
    [
      "kiana.toml",
      "plaintext password",
      (t) => t.replace(/passwordHash = .*/, "password = 'hunter2hunter2'"),
      "kiana.toml: admin.password must not be on the card",
    ],
    [
      "kiana.toml",
      "hash is not argon2id",
      (t) => t.replace(/passwordHash = .*/, "passwordHash = 'hunter2hunter2'"),
      "kiana.toml: admin.passwordHash must be an argon2id hash",
    ],
    [
      "kiana.toml",
      "unknown section",
      (t) => `${t}\n[wifi]\nssid = 'x'\n`,
      "kiana.toml: wifi is not supported",
    ],
    [
      "kiana.toml",
      "unknown node key",
      (t) => t.replace("[node]", "[node]\ncolour = 'red'"),
      "kiana.toml: node.colour is not supported",
    ],
    [
      "kiana.toml",
      "wrong version",
      (t) => t.replace("version = 1", "version = 2"),
      "kiana.toml: version must be 1",
    ],
    [
      "kiana.toml",
      "keys without enrolment",
      (t) => t.replace(/\[enrolment\][\s\S]*?\[keys\]/, "[keys]"),
      "kiana.toml: enrolment is missing",
    ],
    [
      "kiana.toml",
      "certificate garbage",
      (t) => t.replace(/certificate = .*/, "certificate = '{}'"),
      "kiana.toml: enrolment.certificate is not a certificate",
    ],
    [
      "kiana.toml",
      "name differs from the certificate",
      (t) => t.replace("name = 'kitchen'", "name = 'garage'"),
      'kiana.toml: enrolment.certificate was issued to "kitchen"',
    ],
    [
      "kiana.toml",
      "role differs from the certificate",
      (t) => t.replace("role = 'satellite'", "role = 'hub'"),
      "kiana.toml: enrolment.certificate was issued for role satellite",
    ],
    [
      "kiana.toml",
      "broken key",
      (t) => t.replace(/(signingKey = '''\n-----BEGIN PRIVATE KEY-----\n)M/, "$1X"),
      "kiana.toml: keys.signingKey must be an ed25519 private key",
    ],
    [
      "kiana.toml",
      "keys swapped",
      (t) =>
        t
          .replace("signingKey =", "tmpKey =")
          .replace("agreementKey =", "signingKey =")
          .replace("tmpKey =", "agreementKey ="),
      "kiana.toml: keys.signingKey must be an ed25519 key, not x25519",
    ],
    [
      "user-data",
      "no #cloud-config line",
      (t) => t.replace("#cloud-config\n", ""),
      'user-data: (file) must start with the line "#cloud-config"',
    ],
    [
      "user-data",
      "hostname disagrees",
      (t) => t.replace('hostname: "kitchen"', 'hostname: "garage"'),
      'user-data: hostname is "garage" but kiana.toml node.name is "kitchen"',
    ],
    [
      "user-data",
      "unsupported module",
      (t) => `${t}packages:\n  - vim\n`,
      "user-data: packages is not supported by kiana firstboot",
    ],
    [
      "user-data",
      "bad ssh key",
      (t) => t.replace(/- "ssh-ed25519 .*"/, '- "ssh-ed25519"'),
      "user-data: users.0.ssh_authorized_keys.0 must be one OpenSSH public key line",
    ],
    [
      "user-data",
      "reserved user",
      (t) => t.replace('name: "operator"', 'name: "root"'),
      'user-data: users.0.name "root" is reserved',
    ],
    [
      "user-data",
      "two users",
      (t) => t.replace("users:\n", 'users:\n  - name: "second"\n'),
      "user-data: users.1 only one user is supported",
    ],
    [
      "user-data",
      "password login",
      (t) => t.replace("lock_passwd: true", "lock_passwd: false"),
      "user-data: users.0.lock_passwd must be true",
    ],
    [
      "meta-data",
      "local-hostname disagrees",
      (t) => t.replace('"kitchen"', '"garage"'),
      'meta-data: local-hostname is "garage"',
    ],
    [
      "meta-data",
      "bad instance-id",
      (t) => t.replace('"kiana-kitchen-1"', '"a b"'),
      "meta-data: instance-id must be",
    ],
    [
      "network-config",
      "netplan v1",
      (t) => t.replace("version: 2", "version: 1"),
      "network-config: version must be 2",
    ],
    [
      "network-config",
      "bad address",
      (t) => t.replace("192.168.1.20/24", "192.168.1.300/24"),
      "network-config: ethernets.eth0.addresses.0",
    ],
    [
      "network-config",
      "address without prefix",
      (t) => t.replace("192.168.1.20/24", "192.168.1.20"),
      "network-config: ethernets.eth0.addresses.0",
    ],
    [
      "network-config",
      "bad gateway",
      (t) => t.replace('via: "192.168.1.1"', 'via: "gateway"'),
      "network-config: ethernets.eth0.routes.0.via must be an IP address",
    ],
    [
      "network-config",
      "short wifi password",
      (t) => t.replace("wifi-secret-123", "short"),
      "network-config: wifis.wlan0.access-points.Home Wifi.password must be 8-63",
    ],
    [
      "network-config",
      "no access point",
      (t) => t.replace(/access-points:\n[\s\S]*$/, "access-points: {}\n"),
      "network-config: wifis.wlan0.access-points must name at least one network",
    ],
    [
      "network-config",
      "bad country",
      (t) => t.replace('regulatory-domain: "DE"', 'regulatory-domain: "Germany"'),
      "network-config: wifis.wlan0.regulatory-domain",
    ],
    [
      "network-config",
      "neither DHCP nor address",
      (t) => t.replace("dhcp4: true", "dhcp4: false"),
      "network-config: wifis.wlan0 needs dhcp4: true or at least one static address",
    ],
    [
      "network-config",
      "unsupported key",
      (t) => t.replace("eth0:\n", "eth0:\n      mtu: 9000\n"),
      "network-config: ethernets.eth0.mtu is not supported",
    ],
    ["network-config", "bonds", (t) => `${t}  bonds: {}\n`, "network-config: bonds is not supported"],
  ];
  for (const [file, what, edit, expected] of cases)
    test(`${file}: ${what}`, () => {
      expect(seedErrorOf(() => parseSeedFiles(withFile(file, edit)))).toContain(expected);
    });

  test("kiana.toml missing, or not UTF-8", () => {
    expect(
      seedErrorOf(() => parseSeedFiles(renderSeedFiles(good).filter((f) => f.path !== "kiana.toml"))),
    ).toContain("kiana.toml: (file) is missing");
    const files = renderSeedFiles(good).map((f) =>
      f.path === "meta-data" ? { ...f, bytes: new Uint8Array([0xff, 0xfe]) } : f,
    );
    expect(seedErrorOf(() => parseSeedFiles(files))).toContain("meta-data: (file) is not UTF-8");
  });

  test("a certificate from another fleet, and another device's keys, are named", () => {
    const other = testSeed({ fleet: "home" });
    const foreignFleet = {
      ...good,
      identity: {
        ...(good.identity as NonNullable<Seed["identity"]>),
        fleetInfo: other.identity?.fleetInfo ?? "",
      },
    };
    expect(seedErrorOf(() => validateSeed(foreignFleet))).toContain(
      "kiana.toml: enrolment.certificate is not signed by the fleet",
    );
    const otherKeys = {
      ...good,
      identity: {
        ...(good.identity as NonNullable<Seed["identity"]>),
        signingKey: other.identity?.signingKey ?? "",
      },
    };
    expect(seedErrorOf(() => validateSeed(otherKeys))).toContain(
      "kiana.toml: keys.signingKey does not belong to the certificate",
    );
  });

  test("every problem is listed, not only the first, and the error carries file and field", () => {
    const bad = { ...good, node: { ...good.node, name: "-x-", hubUrl: "nope" }, instanceId: "" };
    try {
      renderSeedFiles(bad);
      throw new Error("no error");
    } catch (err) {
      if (!isKianaError(err, "SEED_INVALID")) throw err;
      expect(err.details.file).toBe("meta-data");
      expect(err.details.field).toBe("instance-id");
      const fields = (err.details.problems as { field: string }[]).map((p) => p.field);
      expect(fields).toEqual(expect.arrayContaining(["instance-id", "node.name", "node.hubUrl"]));
      expect(err.message).toContain("and 3 more");
    }
  });
});
