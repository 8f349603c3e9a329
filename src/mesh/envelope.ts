// Signed envelopes: every application message on the mesh is one. Sealing signs header and body;
// opening checks shape, sender enrolment, signature, clock and replay, and never throws on bad input.
import { kianaError } from "../errors.ts";
import {
  type Certificate,
  type CertificateCache,
  certificateFingerprint,
  verifyCertificate,
} from "../identity/enrolment.ts";
import { type NodeKeys, verifySignature } from "../identity/node-keys.ts";
import { type EnvelopeHeader, envelopeBytes } from "../identity/signed-bytes.ts";
import { DEFAULT_MAX_SKEW_MS, type ReplayGuard } from "./replay-guard.ts";

export type { EnvelopeHeader } from "../identity/signed-bytes.ts";

export interface Envelope extends EnvelopeHeader {
  body: Uint8Array;
  /** Ed25519 signature by the sender over `envelopeBytes(header, body)`. */
  sig: Uint8Array;
}

export const ENVELOPE_REFUSALS = [
  "malformed",
  "unknown-sender",
  "bad-signature",
  "sender-expired",
  "sender-revoked",
  "replay",
  "clock-skew",
] as const;
export type EnvelopeRefusalReason = (typeof ENVELOPE_REFUSALS)[number];
export type EnvelopeRefusal = { ok: false; reason: EnvelopeRefusalReason; detail: string; from?: string };
export type OpenResult = { ok: true; envelope: Envelope; sender: Certificate } | EnvelopeRefusal;

export const DEFAULT_MAX_BODY_BYTES = 256 * 1024;
const FINGERPRINT = /^[0-9a-f]{32}$/;
const TYPE = /^[a-z][a-z0-9._-]{0,31}$/;
const SIG_BYTES = 64;
/** v, from, seq, ts, type length. */
const FIXED_HEAD = 1 + 16 + 8 + 8 + 1;

/**
 * Wire layout, big-endian: u8 v=1 | 16 bytes from | u64 seq | u64 ts | u8 type length | type (ASCII)
 * | u32 body length | body | 64 bytes sig. Fixed offsets and explicit lengths, nothing optional.
 */
export function encodeEnvelope(e: Envelope): Uint8Array {
  const type = new TextEncoder().encode(e.type);
  const out = new Uint8Array(FIXED_HEAD + type.length + 4 + e.body.length + SIG_BYTES);
  const view = new DataView(out.buffer);
  out[0] = e.v;
  out.set(Buffer.from(e.from, "hex"), 1);
  view.setBigUint64(17, BigInt(e.seq));
  view.setBigUint64(25, BigInt(e.ts));
  out[33] = type.length;
  out.set(type, FIXED_HEAD);
  view.setUint32(FIXED_HEAD + type.length, e.body.length);
  out.set(e.body, FIXED_HEAD + type.length + 4);
  out.set(e.sig, out.length - SIG_BYTES);
  return out;
}

export function decodeEnvelope(
  bytes: unknown,
  maxBodyBytes = DEFAULT_MAX_BODY_BYTES,
): { ok: true; envelope: Envelope } | { ok: false; detail: string } {
  if (!(bytes instanceof Uint8Array)) return { ok: false, detail: "not bytes" };
  const fail = (detail: string) => ({ ok: false as const, detail });
  if (bytes.length < FIXED_HEAD + 4 + SIG_BYTES) return fail(`too short (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes[0] !== 1) return fail(`unknown envelope version ${bytes[0]}`);
  const seq = view.getBigUint64(17);
  const ts = view.getBigUint64(25);
  if (seq > BigInt(Number.MAX_SAFE_INTEGER)) return fail("seq out of range");
  if (ts > BigInt(Number.MAX_SAFE_INTEGER)) return fail("ts out of range");
  const typeLen = bytes[33] ?? 0;
  const bodyLenAt = FIXED_HEAD + typeLen;
  if (bytes.length < bodyLenAt + 4 + SIG_BYTES) return fail(`too short for a ${typeLen}-byte type`);
  const type = Buffer.from(bytes.subarray(FIXED_HEAD, bodyLenAt)).toString("latin1");
  if (!TYPE.test(type)) return fail("type must be 1-32 of a-z 0-9 . _ -, starting with a letter");
  const bodyLen = view.getUint32(bodyLenAt);
  if (bodyLen > maxBodyBytes) return fail(`body of ${bodyLen} bytes is over the limit of ${maxBodyBytes}`);
  const expected = bodyLenAt + 4 + bodyLen + SIG_BYTES;
  if (bytes.length !== expected)
    return fail(`length ${bytes.length} does not match the ${expected} declared`);
  const bodyAt = bodyLenAt + 4;
  return {
    ok: true,
    envelope: {
      v: 1,
      from: Buffer.from(bytes.subarray(1, 17)).toString("hex"),
      seq: Number(seq),
      ts: Number(ts),
      type,
      // Copies, so that a caller reusing its receive buffer cannot change an accepted message.
      body: bytes.slice(bodyAt, bodyAt + bodyLen),
      sig: bytes.slice(bodyAt + bodyLen),
    },
  };
}

export interface SealOptions {
  keys: Pick<NodeKeys, "sign" | "fingerprint">;
  /** Defaults to the fingerprint of `keys`. */
  from?: string;
  seq: number;
  now: number;
  type: string;
  body: Uint8Array;
  maxBodyBytes?: number;
}

/** Signs and encodes an envelope; bad arguments are a programming error and throw. */
export function sealEnvelope(opts: SealOptions): Uint8Array {
  const from = opts.from ?? opts.keys.fingerprint;
  const bad = (problem: string) => kianaError("MESH_ENVELOPE_INVALID", `cannot seal an envelope: ${problem}`);
  if (!FINGERPRINT.test(from)) throw bad(`from "${from}" is not a fingerprint`);
  if (!TYPE.test(opts.type)) throw bad(`type "${opts.type}" must be 1-32 of a-z 0-9 . _ -`);
  if (!Number.isSafeInteger(opts.seq) || opts.seq < 0) throw bad("seq must be an unsigned integer");
  if (!Number.isSafeInteger(opts.now) || opts.now < 0) throw bad("now must be ms since the epoch");
  const max = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (opts.body.length > max) throw bad(`body of ${opts.body.length} bytes is over the limit of ${max}`);
  const header: EnvelopeHeader = { v: 1, from, seq: opts.seq, ts: opts.now, type: opts.type };
  const sig = opts.keys.sign(envelopeBytes(header, opts.body));
  return encodeEnvelope({ ...header, body: opts.body, sig });
}

export interface OpenOptions {
  /** The enrolled certificate for a fingerprint, if any. */
  roster: (fingerprint: string) => Certificate | undefined;
  fleetPublicKey: Uint8Array;
  /** When given, certificates of other fleets are refused. */
  fleetId?: string;
  revoked?: ReadonlySet<string>;
  now: number;
  replay: ReplayGuard;
  maxSkewMs?: number;
  maxBodyBytes?: number;
  /** Skips re-verifying the fleet signature of a certificate object already verified. */
  certCache?: CertificateCache;
}

/** Opens an envelope; on success the sequence is recorded in the replay guard. */
export function openEnvelope(bytes: unknown, opts: OpenOptions): OpenResult {
  const decoded = decodeEnvelope(bytes, opts.maxBodyBytes);
  if (!decoded.ok) return { ok: false, reason: "malformed", detail: decoded.detail };
  const envelope = decoded.envelope;
  const { from } = envelope;
  const refuse = (reason: EnvelopeRefusalReason, detail: string): EnvelopeRefusal => ({
    ok: false,
    reason,
    detail,
    from,
  });

  let sender: Certificate | undefined;
  try {
    sender = opts.roster(from);
  } catch {
    sender = undefined;
  }
  if (!sender) return refuse("unknown-sender", "no enrolled certificate for this fingerprint");
  if (certificateFingerprint(sender) !== from)
    return refuse("unknown-sender", "the roster's certificate is for another key");

  const cert = verifyCertificate(sender, {
    fleetPublicKey: opts.fleetPublicKey,
    fleetId: opts.fleetId,
    now: opts.now,
    revoked: opts.revoked,
    cache: opts.certCache,
  });
  if (!cert.ok) {
    if (cert.reason === "revoked") return refuse("sender-revoked", cert.detail);
    if (cert.reason === "expired" || cert.reason === "not-yet-valid")
      return refuse("sender-expired", `certificate ${cert.reason}: ${cert.detail}`);
    return refuse("unknown-sender", `certificate ${cert.reason}: ${cert.detail}`);
  }

  const { body, sig, ...header } = envelope;
  if (!verifySignature(sender.signingKey, envelopeBytes(header, body), sig))
    return refuse("bad-signature", `not signed by ${sender.name}'s key`);

  const fresh = opts.replay.check(
    from,
    envelope.seq,
    envelope.ts,
    opts.now,
    opts.maxSkewMs ?? DEFAULT_MAX_SKEW_MS,
  );
  if (!fresh.ok) return refuse(fresh.reason, fresh.detail);
  opts.replay.accept(from, envelope.seq);
  return { ok: true, envelope, sender };
}
