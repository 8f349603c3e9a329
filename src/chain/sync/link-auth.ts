// Who is on the other end of a sync link: the server sends a fresh nonce, the client answers with
// its enrolment certificate and a signature over the nonce and both fingerprints. No sequence
// numbers are involved, so a CLI and the running node can share one key without tripping replays.
import { randomBytes } from "node:crypto";
import {
  type Certificate,
  certificateFingerprint,
  decodeCertificate,
  encodeCertificate,
  verifyCertificate,
} from "../../identity/enrolment.ts";
import { verifySignature } from "../../identity/node-keys.ts";
import { chainSyncAuthBytes } from "../../identity/signed-bytes.ts";
import { ByteReader, ByteWriter } from "./bytes.ts";

const CHALLENGE = 0x10;
const ANSWER = 0x11;
const NONCE_BYTES = 32;

export interface LinkFleet {
  publicKey: Uint8Array;
  fleetId: string;
  revoked?: ReadonlySet<string>;
}

export function makeChallenge(serverFp: string): { nonce: Uint8Array; frame: Uint8Array } {
  const nonce = new Uint8Array(randomBytes(NONCE_BYTES));
  return { nonce, frame: new ByteWriter(64).u8(CHALLENGE).bytes(nonce).hex(serverFp).finish() };
}

/** The client's answer, or a reason the challenge is not one. */
export function answerChallenge(
  frame: Uint8Array,
  me: { certificate: Certificate; sign(message: Uint8Array): Uint8Array },
): { ok: true; server: string; frame: Uint8Array } | { ok: false; reason: string } {
  const r = new ByteReader(frame);
  if (r.u8() !== CHALLENGE) return { ok: false, reason: "the server did not send a challenge" };
  const nonce = r.bytes(NONCE_BYTES, "nonce");
  const server = r.hex(16, "server fingerprint");
  if (!r.ok || !r.done) return { ok: false, reason: `malformed challenge: ${r.problem ?? "trailing bytes"}` };
  const mine = certificateFingerprint(me.certificate);
  const signature = me.sign(chainSyncAuthBytes(nonce, mine, server));
  const cert = new TextEncoder().encode(encodeCertificate(me.certificate));
  return { ok: true, server, frame: new ByteWriter(1024).u8(ANSWER).blob(cert).bytes(signature).finish() };
}

/** The authenticated client's certificate, or why it is refused. Never throws. */
export function checkAnswer(
  frame: Uint8Array,
  expect: { nonce: Uint8Array; serverFp: string; fleet: LinkFleet; now: number },
): { ok: true; peer: string; certificate: Certificate } | { ok: false; reason: string } {
  const r = new ByteReader(frame);
  if (r.u8() !== ANSWER) return { ok: false, reason: "the first frame must answer the challenge" };
  const certBytes = r.blob("certificate", 8192);
  const signature = r.bytes(64, "signature");
  if (!r.ok || !r.done) return { ok: false, reason: `malformed answer: ${r.problem ?? "trailing bytes"}` };
  let certificate: Certificate;
  try {
    certificate = decodeCertificate(new TextDecoder().decode(certBytes));
  } catch (err) {
    return { ok: false, reason: `certificate: ${(err as Error).message}` };
  }
  const verdict = verifyCertificate(certificate, {
    fleetPublicKey: expect.fleet.publicKey,
    fleetId: expect.fleet.fleetId,
    revoked: expect.fleet.revoked,
    now: expect.now,
  });
  if (!verdict.ok) return { ok: false, reason: `certificate ${verdict.reason}: ${verdict.detail}` };
  const peer = certificateFingerprint(certificate);
  if (
    !verifySignature(
      certificate.signingKey,
      chainSyncAuthBytes(expect.nonce, peer, expect.serverFp),
      signature,
    )
  )
    return { ok: false, reason: "the answer is not signed by the certificate's key" };
  return { ok: true, peer, certificate };
}
