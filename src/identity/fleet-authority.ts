// The fleet authority: an Ed25519 key kept by the operator (never on devices) that issues enrolment
// certificates. `kiana fleet init|enroll` and provisioning call this module.
import { createPrivateKey, generateKeyPairSync, type KeyObject, randomBytes, sign } from "node:crypto";
import {
  chmodSync,
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { describeError, kianaError } from "../errors.ts";
import {
  type Certificate,
  checkAgreementKey,
  DAY_MS,
  DNS_LABEL,
  fromBase64Url,
  ROLES,
  type Role,
  toBase64Url,
  type UnsignedCertificate,
} from "./enrolment.ts";
import { rawPublicKey } from "./node-keys.ts";
import { certificateBytes } from "./signed-bytes.ts";

export const AUTHORITY_KEY_FILE = "fleet-authority.pem";
export const FLEET_INFO_FILE = "fleet.json";

/** The public facts about a fleet; devices hold this (fleet.json), never the key. */
export interface FleetInfo {
  fleetId: string;
  /** Raw 32-byte Ed25519 public key of the authority. */
  publicKey: Uint8Array;
  createdAt: number;
}

export interface FleetAuthority extends FleetInfo {
  sign(message: Uint8Array): Uint8Array;
}

function authorityFrom(info: FleetInfo, key: KeyObject): FleetAuthority {
  return { ...info, sign: (message) => new Uint8Array(sign(null, message, key)) };
}

export function encodeFleetInfo(info: FleetInfo): string {
  const { fleetId, createdAt } = info;
  return `${JSON.stringify({ fleetId, publicKey: toBase64Url(info.publicKey), createdAt }, null, 2)}\n`;
}

/** Parses fleet.json; throws IDENTITY_FLEET_INVALID naming the bad field. */
export function decodeFleetInfo(text: string): FleetInfo {
  const bad = (field: string, problem: string) =>
    kianaError("IDENTITY_FLEET_INVALID", `fleet info field "${field}" ${problem}`, { field });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw kianaError("IDENTITY_FLEET_INVALID", "the fleet info is not valid JSON", {}, err);
  }
  const obj = (typeof raw === "object" && raw !== null ? raw : {}) as Record<string, unknown>;
  const { fleetId, publicKey, createdAt } = obj;
  if (typeof fleetId !== "string" || !DNS_LABEL.test(fleetId)) throw bad("fleetId", "must be a DNS label");
  const key = typeof publicKey === "string" ? fromBase64Url(publicKey) : undefined;
  if (key?.length !== 32) throw bad("publicKey", "must be a 32-byte key in base64url");
  if (typeof createdAt !== "number" || !Number.isSafeInteger(createdAt) || createdAt < 0)
    throw bad("createdAt", "must be ms since the epoch");
  return { fleetId, publicKey: key, createdAt };
}

export function loadFleetInfo(dir: string): FleetInfo {
  const path = join(dir, FLEET_INFO_FILE);
  try {
    return decodeFleetInfo(readFileSync(path, "utf8"));
  } catch (err) {
    throw kianaError("IDENTITY_FLEET_INVALID", `cannot read ${path}: ${describeError(err)}`, { path }, err);
  }
}

/** Writes a new file, refusing (EEXIST) if anything is already at path. */
function writeNewFile(path: string, contents: string, mode: number): void {
  const fd = openSync(path, "wx", mode);
  try {
    writeSync(fd, contents);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(path, mode);
}

export function createFleetAuthority(opts: { dir: string; fleetId: string; now: number }): FleetAuthority {
  if (!DNS_LABEL.test(opts.fleetId))
    throw kianaError(
      "IDENTITY_FLEET_INVALID",
      `fleet id "${opts.fleetId}" must be a DNS label: lowercase letters, digits and dashes, at most 63`,
      { fleetId: opts.fleetId },
    );
  const keyPath = join(opts.dir, AUTHORITY_KEY_FILE);
  const infoPath = join(opts.dir, FLEET_INFO_FILE);
  for (const path of [keyPath, infoPath])
    if (existsSync(path))
      throw kianaError(
        "IDENTITY_FLEET_EXISTS",
        `${path} already exists; a fleet authority is never overwritten (every enrolled device trusts it). Use another directory for a new fleet.`,
        { path },
      );
  mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
  const { privateKey } = generateKeyPairSync("ed25519");
  const info: FleetInfo = { fleetId: opts.fleetId, publicKey: rawPublicKey(privateKey), createdAt: opts.now };
  // O_EXCL on both files: a concurrent init loses rather than replacing the other's key.
  writeNewFile(keyPath, privateKey.export({ format: "pem", type: "pkcs8" }).toString(), 0o600);
  try {
    writeNewFile(infoPath, encodeFleetInfo(info), 0o644);
  } catch (err) {
    // Nothing has been signed with the new key yet, so removing it loses nothing.
    unlinkSync(keyPath);
    throw kianaError("IDENTITY_FLEET_INVALID", `cannot write ${infoPath}: ${describeError(err)}`, {}, err);
  }
  return authorityFrom(info, privateKey);
}

export function loadFleetAuthority(dir: string): FleetAuthority {
  const info = loadFleetInfo(dir);
  const keyPath = join(dir, AUTHORITY_KEY_FILE);
  let key: KeyObject;
  try {
    // The operator's machine, not a device: tighten rather than refuse, as node keys do.
    if (statSync(keyPath).mode & 0o077) chmodSync(keyPath, 0o600);
    key = createPrivateKey(readFileSync(keyPath));
  } catch (err) {
    throw kianaError(
      "IDENTITY_KEY_INVALID",
      `cannot read the fleet authority key ${keyPath}: ${describeError(err)}`,
      { path: keyPath },
      err,
    );
  }
  if (key.asymmetricKeyType !== "ed25519")
    throw kianaError(
      "IDENTITY_KEY_INVALID",
      `${keyPath} holds a ${key.asymmetricKeyType} key, expected ed25519`,
    );
  if (!Buffer.from(rawPublicKey(key)).equals(Buffer.from(info.publicKey)))
    throw kianaError(
      "IDENTITY_KEY_INVALID",
      `${keyPath} does not match the public key in ${FLEET_INFO_FILE}; the two files belong to different fleets`,
      { path: keyPath },
    );
  return authorityFrom(info, key);
}

export interface IssueOptions {
  name: string;
  role: Role;
  signingKey: Uint8Array;
  agreementKey: Uint8Array;
  validDays: number;
  /** Defaults to 16 random bytes in hex. */
  serial?: string;
  now: number;
  random?: (n: number) => Uint8Array;
}

export function issueCertificate(authority: FleetAuthority, opts: IssueOptions): Certificate {
  const bad = (field: string, problem: string) =>
    kianaError("IDENTITY_CERT_INVALID", `cannot issue a certificate: ${field} ${problem}`, { field });
  if (!DNS_LABEL.test(opts.name))
    throw bad("name", `"${opts.name}" must be a DNS label (lowercase letters, digits, dashes, at most 63)`);
  if (!ROLES.includes(opts.role)) throw bad("role", `"${opts.role}" must be one of ${ROLES.join(", ")}`);
  if (opts.signingKey.length !== 32) throw bad("signingKey", "must be 32 bytes");
  checkAgreementKey(opts.agreementKey);
  if (!Number.isInteger(opts.validDays) || opts.validDays < 1 || opts.validDays > 3650)
    throw bad("validDays", `must be a whole number of days from 1 to 3650, got ${opts.validDays}`);
  const random = opts.random ?? ((n: number) => new Uint8Array(randomBytes(n)));
  const unsigned: UnsignedCertificate = {
    version: 1,
    fleetId: authority.fleetId,
    name: opts.name,
    role: opts.role,
    signingKey: Uint8Array.from(opts.signingKey),
    agreementKey: Uint8Array.from(opts.agreementKey),
    issuedAt: opts.now,
    expiresAt: opts.now + opts.validDays * DAY_MS,
    serial: opts.serial ?? Buffer.from(random(16)).toString("hex"),
  };
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(unsigned.serial))
    throw bad("serial", "must be 1-64 of A-Z a-z 0-9 . _ -");
  return Object.freeze({ ...unsigned, signature: authority.sign(certificateBytes(unsigned)) });
}
