// A device's membership in a fleet: its enrolment certificate and the fleet's public facts, kept in
// <data>/fleet/. Joining checks that the certificate is this device's, signed by that fleet, valid now.

import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { kianaError } from "../errors.ts";
import { writeFileAtomic } from "../platform/atomic-file.ts";
import { type Certificate, decodeCertificate, encodeCertificate, verifyCertificate } from "./enrolment.ts";
import { decodeFleetInfo, encodeFleetInfo, type FleetInfo } from "./fleet-authority.ts";
import type { NodeKeys } from "./node-keys.ts";

export interface Membership {
  fleet: FleetInfo;
  certificate: Certificate;
}

const CERT_FILE = "certificate.json";
const FLEET_FILE = "fleet.json";

export function membershipDir(dataDir: string): string {
  return join(dataDir, "fleet");
}

/** The stored membership, or null before the device has joined a fleet. */
export function loadMembership(dataDir: string): Membership | null {
  const dir = membershipDir(dataDir);
  if (!existsSync(join(dir, CERT_FILE))) return null;
  return {
    fleet: decodeFleetInfo(readFileSync(join(dir, FLEET_FILE), "utf8")),
    certificate: decodeCertificate(readFileSync(join(dir, CERT_FILE), "utf8")),
  };
}

/** Verifies and stores a certificate issued by `kiana fleet enroll` for this device. */
export function joinFleet(opts: {
  dataDir: string;
  keys: Pick<NodeKeys, "signingPublicKey" | "agreementPublicKey">;
  certificateText: string;
  fleetInfoText: string;
  now: number;
}): Membership {
  const certificate = decodeCertificate(opts.certificateText);
  const fleet = decodeFleetInfo(opts.fleetInfoText);
  const mine =
    Buffer.from(certificate.signingKey).equals(Buffer.from(opts.keys.signingPublicKey)) &&
    Buffer.from(certificate.agreementKey).equals(Buffer.from(opts.keys.agreementPublicKey));
  if (!mine) {
    throw kianaError(
      "IDENTITY_CERT_INVALID",
      "this certificate was issued for other keys than this device's; enrol with the line `kiana status` prints",
    );
  }
  const verdict = verifyCertificate(certificate, {
    fleetPublicKey: fleet.publicKey,
    fleetId: fleet.fleetId,
    now: opts.now,
  });
  if (!verdict.ok) {
    throw kianaError(
      "IDENTITY_CERT_INVALID",
      `the certificate is not valid for fleet ${fleet.fleetId}: ${verdict.reason} (${verdict.detail})`,
    );
  }
  const dir = membershipDir(opts.dataDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileAtomic(join(dir, FLEET_FILE), encodeFleetInfo(fleet));
  writeFileAtomic(join(dir, CERT_FILE), encodeCertificate(certificate));
  return { fleet, certificate };
}
