// `kiana fleet init|enroll|join`: the operator's side (a fleet authority kept off the devices) and
// the device's side (storing the certificate it was issued). Provisioning calls the same functions.
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { kianaError } from "../errors.ts";
import { encodeCertificate, formatPublicKeys, parsePublicKeys, type Role } from "./enrolment.ts";
import { createFleetAuthority, issueCertificate, loadFleetAuthority } from "./fleet-authority.ts";
import { joinFleet, loadMembership, type Membership } from "./fleet-membership.ts";
import { fingerprintOf, formatFingerprint, type NodeKeys } from "./node-keys.ts";

export const FLEET_USAGE = `kiana fleet init --fleet ID [--dir DIR]
      create a fleet authority key in DIR (default ./kiana-fleet or $KIANA_FLEET_DIR); keep it off the devices
kiana fleet enroll --name NAME --role hub|node|satellite --pubkey KEYS [--days 365] [--dir DIR] [--out FILE]
      issue a certificate for the device whose \`kiana status\` printed KEYS
kiana fleet join --cert FILE --fleet-info FILE
      on the device: store the certificate issued for it and the fleet's fleet.json`;

/** A device's membership as `kiana fleet join` and `POST /api/v1/fleet/join` report it. */
export interface JoinedFleet {
  fleetId: string;
  name: string;
  role: Role;
  /** The certificate's (= this device's) fingerprint, 32 hex digits. */
  fingerprint: string;
  /** ms since the epoch. */
  expiresAt: number;
}

export function joinedFleetOf(m: Membership): JoinedFleet {
  const { name, role, expiresAt, signingKey } = m.certificate;
  return { fleetId: m.fleet.fleetId, name, role, fingerprint: fingerprintOf(signingKey), expiresAt };
}

/**
 * The device's side of enrolment, for the CLI and the admin API alike: checks the certificate
 * against this device's keys, the fleet's key and the clock (throws IDENTITY_CERT_INVALID or
 * IDENTITY_FLEET_INVALID naming the problem), then stores it with the fleet info.
 */
export function joinThisDevice(opts: {
  dataDir: string;
  keys: Pick<NodeKeys, "signingPublicKey" | "agreementPublicKey">;
  certificateText: string;
  fleetInfoText: string;
  now: number;
}): JoinedFleet {
  return joinedFleetOf(joinFleet(opts));
}

/** This device's enrolment as the admin API offers it (`AdminFleet` in src/admin/fleet-routes.ts). */
export function deviceEnrolment(opts: {
  dataDir: string;
  keys: Pick<NodeKeys, "signingPublicKey" | "agreementPublicKey">;
  now?: () => number;
}) {
  const { dataDir, keys } = opts;
  const now = opts.now ?? Date.now;
  return {
    publicKeys: formatPublicKeys(keys),
    enrolment(): JoinedFleet | null {
      const m = loadMembership(dataDir);
      return m && joinedFleetOf(m);
    },
    join: (certificateText: string, fleetInfoText: string): JoinedFleet =>
      joinThisDevice({ dataDir, keys, certificateText, fleetInfoText, now: now() }),
  };
}

export interface FleetCliIo {
  out(text: string): void;
  env: Record<string, string | undefined>;
  now: number;
  /** Only `join` needs the device's keys and data dir, loaded on demand: usually `joinThisDevice`. */
  join?(certificateText: string, fleetInfoText: string): JoinedFleet;
}

function need(flags: Record<string, string>, name: string): string {
  const v = flags[name];
  if (!v) throw kianaError("CLI_USAGE", `--${name} is required\n\n${FLEET_USAGE}`);
  return v;
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw kianaError("CLI_USAGE", `cannot read the ${what} ${path}: ${(err as Error).message}`, {}, err);
  }
}

export function runFleetCommand(
  sub: string | undefined,
  flags: Record<string, string>,
  io: FleetCliIo,
): number {
  const dir = resolve(flags.dir ?? io.env.KIANA_FLEET_DIR ?? "kiana-fleet");
  if (sub === "init") {
    const authority = createFleetAuthority({ dir, fleetId: need(flags, "fleet"), now: io.now });
    io.out(
      `Fleet "${authority.fleetId}" created in ${dir}.\n` +
        "Keep fleet-authority.pem safe and off the devices; devices get fleet.json and their certificate.\n",
    );
    return 0;
  }
  if (sub === "enroll") {
    const keys = parsePublicKeys(need(flags, "pubkey"));
    const days = flags.days === undefined ? 365 : Number(flags.days);
    const cert = issueCertificate(loadFleetAuthority(dir), {
      name: need(flags, "name"),
      role: need(flags, "role") as Role,
      signingKey: keys.signingKey,
      agreementKey: keys.agreementKey,
      validDays: days,
      now: io.now,
    });
    const text = encodeCertificate(cert);
    if (flags.out) {
      writeFileSync(resolve(flags.out), text);
      io.out(
        `Certificate for ${cert.name} (${cert.role}, ${formatFingerprint(keys.fingerprint)}) written to ${flags.out}, valid ${days} days.\n`,
      );
    } else {
      io.out(text);
    }
    return 0;
  }
  if (sub === "join") {
    if (!io.join) throw kianaError("CLI_USAGE", "fleet join runs on the device");
    const certText = readText(resolve(need(flags, "cert")), "certificate");
    const fleetText = readText(resolve(need(flags, "fleet-info")), "fleet info");
    const joined = io.join(certText, fleetText);
    io.out(`Joined fleet "${joined.fleetId}" as ${joined.name} (${joined.role}).\n`);
    return 0;
  }
  throw kianaError(
    "CLI_USAGE",
    `${sub ? `unknown fleet command ${sub}` : "fleet needs a command"}\n\n${FLEET_USAGE}`,
  );
}
