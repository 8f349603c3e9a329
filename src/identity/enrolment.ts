// Fleet enrolment certificates: the fleet authority vouches for a device's keys, name and role.
// Defines the certificate, its portable text form, its verification, and the device's public-key line.
import { diffieHellman, generateKeyPairSync } from "node:crypto";
import { kianaError } from "../errors.ts";
import { fingerprintOf, type NodeKeys, publicKeyFromRaw, verifySignature } from "./node-keys.ts";
import { certificateBytes } from "./signed-bytes.ts";

export const ROLES = ["hub", "node", "satellite"] as const;
export type Role = (typeof ROLES)[number];

/** Same rule as config `node.name`: a DNS label. Used for fleet ids and node names. */
export const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const SERIAL = /^[A-Za-z0-9._-]{1,64}$/;
const B64URL = /^[A-Za-z0-9_-]*$/;

export interface UnsignedCertificate {
  version: 1;
  fleetId: string;
  name: string;
  role: Role;
  /** Raw 32-byte Ed25519 public key; its fingerprint is the certificate's fingerprint. */
  signingKey: Uint8Array;
  /** Raw 32-byte X25519 public key, for end-to-end encrypted direct messages. */
  agreementKey: Uint8Array;
  /** Validity window, ms since the epoch. */
  issuedAt: number;
  expiresAt: number;
  serial: string;
}

export interface Certificate extends UnsignedCertificate {
  /** Ed25519 signature by the fleet authority over `certificateBytes`. */
  signature: Uint8Array;
}

export type CertificateRefusal =
  | "bad-signature"
  | "expired"
  | "not-yet-valid"
  | "wrong-fleet"
  | "revoked"
  | "malformed";
export type CertificateVerdict = { ok: true } | { ok: false; reason: CertificateRefusal; detail: string };

/** Remembers which certificate objects already passed the signature check, per fleet key. */
export type CertificateCache = WeakMap<Certificate, string>;
export const createCertificateCache = (): CertificateCache => new WeakMap();

export const DAY_MS = 86_400_000;
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
export const toBase64Url = (b: Uint8Array) => Buffer.from(b).toString("base64url");

/** Strict base64url: only the alphabet, no padding, and the canonical form (no stray trailing bits). */
export function fromBase64Url(text: string): Uint8Array | undefined {
  if (!B64URL.test(text)) return undefined;
  const buf = Buffer.from(text, "base64url");
  return buf.toString("base64url") === text ? new Uint8Array(buf) : undefined;
}

const isTime = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const isKey = (v: unknown, len: number) => v instanceof Uint8Array && v.length === len;

/** The first field that breaks the certificate's shape, or undefined; checked before any crypto. */
function shapeProblem(c: Certificate): { field: string; problem: string } | undefined {
  if (c.version !== 1) return { field: "version", problem: "must be 1" };
  if (typeof c.fleetId !== "string" || !DNS_LABEL.test(c.fleetId))
    return { field: "fleetId", problem: "must be a DNS label (a-z, 0-9, dashes, at most 63)" };
  if (typeof c.name !== "string" || !DNS_LABEL.test(c.name))
    return { field: "name", problem: "must be a DNS label (a-z, 0-9, dashes, at most 63)" };
  if (!ROLES.includes(c.role)) return { field: "role", problem: `must be one of ${ROLES.join(", ")}` };
  if (!isKey(c.signingKey, 32)) return { field: "signingKey", problem: "must be 32 bytes" };
  if (!isKey(c.agreementKey, 32)) return { field: "agreementKey", problem: "must be 32 bytes" };
  if (!isTime(c.issuedAt)) return { field: "issuedAt", problem: "must be ms since the epoch" };
  if (!isTime(c.expiresAt) || c.expiresAt <= c.issuedAt)
    return { field: "expiresAt", problem: "must be ms since the epoch, after issuedAt" };
  if (typeof c.serial !== "string" || !SERIAL.test(c.serial))
    return { field: "serial", problem: "must be 1-64 of A-Z a-z 0-9 . _ -" };
  if (!isKey(c.signature, 64)) return { field: "signature", problem: "must be 64 bytes" };
  return undefined;
}

/** The certificate's fingerprint: that of the device's signing key, i.e. the node fingerprint. */
export function certificateFingerprint(cert: Pick<Certificate, "signingKey">): string {
  return fingerprintOf(cert.signingKey);
}

export function encodeCertificate(cert: Certificate): string {
  return JSON.stringify({
    version: cert.version,
    fleetId: cert.fleetId,
    name: cert.name,
    role: cert.role,
    signingKey: toBase64Url(cert.signingKey),
    agreementKey: toBase64Url(cert.agreementKey),
    issuedAt: cert.issuedAt,
    expiresAt: cert.expiresAt,
    serial: cert.serial,
    signature: toBase64Url(cert.signature),
  });
}

const FIELDS = [
  "version",
  "fleetId",
  "name",
  "role",
  "signingKey",
  "agreementKey",
  "issuedAt",
  "expiresAt",
  "serial",
  "signature",
] as const;
const BINARY = new Set(["signingKey", "agreementKey", "signature"]);

/** Parses the text form; throws IDENTITY_CERT_INVALID naming the first bad field. Does not verify. */
export function decodeCertificate(text: string): Certificate {
  const bad = (field: string, problem: string) =>
    kianaError("IDENTITY_CERT_INVALID", `certificate field "${field}" ${problem}`, { field });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw kianaError("IDENTITY_CERT_INVALID", "the certificate is not valid JSON", {}, err);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw kianaError("IDENTITY_CERT_INVALID", "the certificate must be a JSON object");
  const obj = raw as Record<string, unknown>;
  for (const key of Object.keys(obj))
    if (!(FIELDS as readonly string[]).includes(key)) throw bad(key, "is not a certificate field");
  const out: Record<string, unknown> = {};
  for (const field of FIELDS) {
    const value = obj[field];
    if (value === undefined) throw bad(field, "is missing");
    if (BINARY.has(field)) {
      const bytes = typeof value === "string" ? fromBase64Url(value) : undefined;
      if (!bytes) throw bad(field, "must be base64url without padding");
      out[field] = bytes;
    } else out[field] = value;
  }
  const cert = out as unknown as Certificate;
  const problem = shapeProblem(cert);
  if (problem) throw bad(problem.field, problem.problem);
  return Object.freeze(cert);
}

export interface VerifyCertificateOptions {
  fleetPublicKey: Uint8Array;
  now: number;
  /** When given, a certificate of another fleet is refused as wrong-fleet. */
  fleetId?: string;
  /** Certificate fingerprints (= device signing-key fingerprints) that are revoked. */
  revoked?: ReadonlySet<string>;
  /** Tolerance for a device clock behind the issuer's (a Pi has no RTC before NTP). Default 5 min. */
  skewMs?: number;
  cache?: CertificateCache;
}

export function verifyCertificate(cert: Certificate, opts: VerifyCertificateOptions): CertificateVerdict {
  const problem = shapeProblem(cert);
  if (problem) return { ok: false, reason: "malformed", detail: `${problem.field} ${problem.problem}` };
  if (opts.fleetId !== undefined && cert.fleetId !== opts.fleetId)
    return {
      ok: false,
      reason: "wrong-fleet",
      detail: `issued for fleet ${cert.fleetId}, not ${opts.fleetId}`,
    };
  const fleetKeyHex = hex(opts.fleetPublicKey);
  if (opts.cache?.get(cert) !== fleetKeyHex) {
    if (!verifySignature(opts.fleetPublicKey, certificateBytes(cert), cert.signature))
      return { ok: false, reason: "bad-signature", detail: "not signed by this fleet's authority key" };
    opts.cache?.set(cert, fleetKeyHex);
  }
  const fp = certificateFingerprint(cert);
  if (opts.revoked?.has(fp))
    return { ok: false, reason: "revoked", detail: `certificate ${fp} (${cert.name}) is revoked` };
  const skew = opts.skewMs ?? 5 * 60_000;
  if (opts.now + skew < cert.issuedAt)
    return {
      ok: false,
      reason: "not-yet-valid",
      detail: `valid from ${new Date(cert.issuedAt).toISOString()}`,
    };
  if (opts.now >= cert.expiresAt)
    return { ok: false, reason: "expired", detail: `expired at ${new Date(cert.expiresAt).toISOString()}` };
  return { ok: true };
}

/** Throws unless raw is a usable X25519 public key (32 bytes, not a low-order point). */
export function checkAgreementKey(raw: Uint8Array): void {
  try {
    const { privateKey } = generateKeyPairSync("x25519");
    diffieHellman({ privateKey, publicKey: publicKeyFromRaw("x25519", raw) });
  } catch (err) {
    throw kianaError("IDENTITY_PUBKEY_INVALID", "the x25519 key is not a usable agreement key", {}, err);
  }
}

/** The one-line form a device prints for `kiana fleet enroll --pubkey`. */
export function formatPublicKeys(keys: Pick<NodeKeys, "signingPublicKey" | "agreementPublicKey">): string {
  return `ed25519:${toBase64Url(keys.signingPublicKey)};x25519:${toBase64Url(keys.agreementPublicKey)}`;
}

export interface ParsedPublicKeys {
  signingKey: Uint8Array;
  agreementKey: Uint8Array;
  fingerprint: string;
}

export function parsePublicKeys(text: string): ParsedPublicKeys {
  const usage = 'expected "ed25519:<base64url>;x25519:<base64url>", as the device prints it';
  const fail = (problem: string) => kianaError("IDENTITY_PUBKEY_INVALID", `--pubkey: ${problem}; ${usage}`);
  const found = new Map<string, Uint8Array>();
  for (const part of text.trim().split(";")) {
    const colon = part.indexOf(":");
    if (colon < 0) throw fail(`"${part.slice(0, 40)}" has no "kind:" prefix`);
    const kind = part.slice(0, colon).trim().toLowerCase();
    if (kind !== "ed25519" && kind !== "x25519") throw fail(`unknown key kind "${kind.slice(0, 20)}"`);
    if (found.has(kind)) throw fail(`${kind} is given twice`);
    const bytes = fromBase64Url(part.slice(colon + 1).trim());
    if (!bytes) throw fail(`the ${kind} key is not base64url`);
    if (bytes.length !== 32) throw fail(`the ${kind} key must be 32 bytes, got ${bytes.length}`);
    found.set(kind, bytes);
  }
  const signingKey = found.get("ed25519");
  const agreementKey = found.get("x25519");
  if (!signingKey) throw fail("the ed25519 key is missing");
  if (!agreementKey) throw fail("the x25519 key is missing");
  checkAgreementKey(agreementKey);
  return { signingKey, agreementKey, fingerprint: fingerprintOf(signingKey) };
}
