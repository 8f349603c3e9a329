// A device's identity made on the operator's machine: node keys in the exact files a device keeps
// (node-keys.ts writes them) and its enrolment certificate signed by the fleet authority.
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type Certificate,
  encodeCertificate,
  encodeFleetInfo,
  type FleetAuthority,
  formatFingerprint,
  issueCertificate,
  loadNodeKeys,
  type Role,
} from "../src/identity/index.ts";

export interface DeviceIdentity {
  fingerprint: string;
  certificate: Certificate;
  /** What the seed's `identity` table holds: certificate, fleet.json and both private keys (PEM). */
  seed: { certificate: string; fleetInfo: string; signingKey: string; agreementKey: string };
}

export function createDeviceIdentity(
  authority: FleetAuthority,
  device: { name: string; role: Role; certDays: number },
  now: number,
): DeviceIdentity {
  // loadNodeKeys creates the keys as a device would; the private folder goes once they are read.
  const dataDir = mkdtempSync(join(tmpdir(), "kiana-device-"));
  try {
    const keys = loadNodeKeys({ dataDir });
    const certificate = issueCertificate(authority, {
      name: device.name,
      role: device.role,
      signingKey: keys.signingPublicKey,
      agreementKey: keys.agreementPublicKey,
      validDays: device.certDays,
      now,
    });
    return {
      fingerprint: formatFingerprint(keys.fingerprint),
      certificate,
      seed: {
        certificate: encodeCertificate(certificate),
        fleetInfo: encodeFleetInfo(authority),
        signingKey: readFileSync(join(dataDir, "keys", "signing.pem"), "utf8"),
        agreementKey: readFileSync(join(dataDir, "keys", "agreement.pem"), "utf8"),
      },
    };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * Appends one line to `<fleet dir>/issued.csv`: the operator's record of every certificate issued,
 * whose fingerprints `mesh.revoked` needs when a card is lost or provisioned again.
 */
export function recordIssued(
  fleetDir: string,
  entry: { at: number; name: string; role: string; serial: string; fingerprint: string; output: string },
): void {
  const file = join(fleetDir, "issued.csv");
  if (!existsSync(file)) appendFileSync(file, "issued_at,name,role,serial,fingerprint,output\n");
  const { name, role, serial, fingerprint, output } = entry;
  appendFileSync(
    file,
    `${new Date(entry.at).toISOString()},${name},${role},${serial},${fingerprint},${output}\n`,
  );
}
