// Test fixture: a complete, valid seed for a freshly enrolled device of a real test fleet.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { encodeCertificate, encodeFleetInfo, type Role } from "../identity/index.ts";
import { loadNodeKeys } from "../identity/node-keys.ts";
import { enrolNode, T0, tempDir, testFleet } from "../identity/test-fleet.test-helper.ts";
import type { Seed } from "./schema.ts";

export const ADMIN_PASSWORD = "correct horse battery";
// One hash for the whole run: argon2id is deliberately slow.
const PASSWORD_HASH = await Bun.password.hash(ADMIN_PASSWORD, { algorithm: "argon2id" });
export const SSH_KEY =
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH7tB3JwLkQ0r3hZ7c1p0bW1hZ2luYXJ5a2V5MDAwMDA operator@laptop";

export function testSeed(opts: { name?: string; role?: Role; fleet?: string; issuedAt?: number } = {}): Seed {
  const name = opts.name ?? "kitchen";
  const role = opts.role ?? "satellite";
  const authority = testFleet(opts.fleet ?? "home", opts.issuedAt ?? T0);
  const dataDir = tempDir("kiana-seed-keys-");
  const keys = loadNodeKeys({ dataDir });
  const { cert } = enrolNode(authority, name, { role, keys, now: opts.issuedAt ?? T0 });
  return {
    instanceId: `kiana-${name}-1`,
    node: { name, role, fleet: authority.fleetId, hubUrl: "http://hub.local:8080" },
    admin: { passwordHash: PASSWORD_HASH },
    identity: {
      certificate: encodeCertificate(cert),
      fleetInfo: encodeFleetInfo(authority),
      signingKey: readFileSync(join(dataDir, "keys", "signing.pem"), "utf8"),
      agreementKey: readFileSync(join(dataDir, "keys", "agreement.pem"), "utf8"),
    },
    user: { name: "operator", sshAuthorizedKeys: [SSH_KEY], groups: ["adm"], sudo: true },
    network: {
      version: 2,
      ethernets: {
        eth0: {
          addresses: ["192.168.1.20/24"],
          routes: [{ to: "default", via: "192.168.1.1" }],
          nameservers: { addresses: ["192.168.1.1"], search: ["home.arpa"] },
        },
      },
      wifis: {
        wlan0: {
          dhcp4: true,
          optional: true,
          "regulatory-domain": "DE",
          "access-points": { "Home Wifi": { password: "wifi-secret-123" } },
        },
      },
    },
  };
}
