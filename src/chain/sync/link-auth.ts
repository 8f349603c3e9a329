// Who is on each end of a sync link, proved both ways within the handshake's one exchange. The
// client names a fresh nonce and its fingerprint when it connects; the server's first frame is its
// own nonce plus its certificate and a signature over the client's nonce; the client checks that
// against its fleet (and the fingerprint it dialled), then answers with its certificate and a
// signature over the server's nonce. No sequence numbers are involved, so a CLI and the running
// node can share one key without tripping replays; each side's fresh nonce defeats replayed frames.
import { randomBytes } from "node:crypto";
import {
  type Certificate,
  certificateFingerprint,
  decodeCertificate,
  encodeCertificate,
  verifyCertificate,
} from "../../identity/enrolment.ts";
import { verifySignature } from "../../identity/node-keys.ts";
import { chainSyncAuthBytes, chainSyncServerAuthBytes } from "../../identity/signed-bytes.ts";
import { ByteReader, ByteWriter } from "./bytes.ts";

/** v2: the challenge carries the server's proof (0x10 was a bare challenge). */
const CHALLENGE = 0x12;
const ANSWER = 0x11;
const NONCE_BYTES = 32;
const FP = /^[0-9a-f]{32}$/;
const NONCE = /^[0-9a-f]{64}$/;

export interface LinkFleet {
  publicKey: Uint8Array;
  fleetId: string;
  revoked?: ReadonlySet<string>;
}

export interface LinkIdentity {
  certificate: Certificate;
  sign(message: Uint8Array): Uint8Array;
}

type Refusal = { ok: false; reason: string };

/** What the client sends when it connects (as URL query parameters): its nonce and fingerprint. */
export function makeHello(me: LinkIdentity): { nonce: Uint8Array; query: Record<string, string> } {
  const nonce = new Uint8Array(randomBytes(NONCE_BYTES));
  return {
    nonce,
    query: { nonce: Buffer.from(nonce).toString("hex"), fp: certificateFingerprint(me.certificate) },
  };
}

/** The client's nonce and fingerprint from its connect URL, or why they are unusable. */
export function readHello(url: URL): { ok: true; nonce: Uint8Array; clientFp: string } | Refusal {
  const nonce = url.searchParams.get("nonce") ?? "";
  const clientFp = url.searchParams.get("fp") ?? "";
  if (!NONCE.test(nonce) || !FP.test(clientFp))
    return { ok: false, reason: "the client sent no nonce and fingerprint (a kiana older than this one?)" };
  return { ok: true, nonce: new Uint8Array(Buffer.from(nonce, "hex")), clientFp };
}

/** The server's first frame: its nonce for the client to sign, and its proof over the client's. */
export function makeChallenge(
  me: LinkIdentity,
  hello: { nonce: Uint8Array; clientFp: string },
): { nonce: Uint8Array; frame: Uint8Array } {
  const nonce = new Uint8Array(randomBytes(NONCE_BYTES));
  const serverFp = certificateFingerprint(me.certificate);
  const signature = me.sign(chainSyncServerAuthBytes(hello.nonce, serverFp, hello.clientFp));
  const cert = new TextEncoder().encode(encodeCertificate(me.certificate));
  const frame = new ByteWriter(1024).u8(CHALLENGE).bytes(nonce).blob(cert).bytes(signature).finish();
  return { nonce, frame };
}

/** A certificate blob checked against the fleet, or why it is refused. */
function checkCertificate(
  bytes: Uint8Array,
  fleet: LinkFleet,
  now: number,
): { ok: true; fp: string; certificate: Certificate } | Refusal {
  let certificate: Certificate;
  try {
    certificate = decodeCertificate(new TextDecoder().decode(bytes));
  } catch (err) {
    return { ok: false, reason: `certificate: ${(err as Error).message}` };
  }
  const verdict = verifyCertificate(certificate, {
    fleetPublicKey: fleet.publicKey,
    fleetId: fleet.fleetId,
    revoked: fleet.revoked,
    now,
  });
  if (!verdict.ok) return { ok: false, reason: `certificate ${verdict.reason}: ${verdict.detail}` };
  return { ok: true, fp: certificateFingerprint(certificate), certificate };
}

/**
 * The client's answer once the server proved itself, or why the server is refused: its certificate
 * is not of this fleet, is not the peer dialled (`expect.server`, when known), or it did not sign
 * this link's nonce with that certificate's key.
 */
export function answerChallenge(
  frame: Uint8Array,
  me: LinkIdentity,
  expect: { nonce: Uint8Array; fleet: LinkFleet; now: number; server?: string },
): { ok: true; server: string; frame: Uint8Array } | Refusal {
  const r = new ByteReader(frame);
  if (r.u8() !== CHALLENGE) return { ok: false, reason: "the server did not send a challenge" };
  const nonce = r.bytes(NONCE_BYTES, "nonce");
  const certBytes = r.blob("certificate", 8192);
  const proof = r.bytes(64, "signature");
  if (!r.ok || !r.done) return { ok: false, reason: `malformed challenge: ${r.problem ?? "trailing bytes"}` };
  const cert = checkCertificate(certBytes, expect.fleet, expect.now);
  if (!cert.ok) return { ok: false, reason: `the server's ${cert.reason}` };
  const server = cert.fp;
  if (expect.server && server !== expect.server)
    return { ok: false, reason: `the server is ${server}, not the peer ${expect.server} dialled` };
  const mine = certificateFingerprint(me.certificate);
  if (
    !verifySignature(cert.certificate.signingKey, chainSyncServerAuthBytes(expect.nonce, server, mine), proof)
  )
    return {
      ok: false,
      reason: "the server's proof is not signed over this link's nonce by its certificate's key",
    };
  const signature = me.sign(chainSyncAuthBytes(nonce, mine, server));
  const mineBytes = new TextEncoder().encode(encodeCertificate(me.certificate));
  return {
    ok: true,
    server,
    frame: new ByteWriter(1024).u8(ANSWER).blob(mineBytes).bytes(signature).finish(),
  };
}

/** The authenticated client's certificate, or why it is refused. Never throws. */
export function checkAnswer(
  frame: Uint8Array,
  expect: { nonce: Uint8Array; serverFp: string; clientFp: string; fleet: LinkFleet; now: number },
): { ok: true; peer: string; certificate: Certificate } | Refusal {
  const r = new ByteReader(frame);
  if (r.u8() !== ANSWER) return { ok: false, reason: "the first frame must answer the challenge" };
  const certBytes = r.blob("certificate", 8192);
  const signature = r.bytes(64, "signature");
  if (!r.ok || !r.done) return { ok: false, reason: `malformed answer: ${r.problem ?? "trailing bytes"}` };
  const cert = checkCertificate(certBytes, expect.fleet, expect.now);
  if (!cert.ok) return cert;
  const peer = cert.fp;
  // The server's proof named the fingerprint the client gave when connecting; it must be this one.
  if (peer !== expect.clientFp)
    return { ok: false, reason: `the client connected as ${expect.clientFp} but its certificate is ${peer}` };
  if (
    !verifySignature(
      cert.certificate.signingKey,
      chainSyncAuthBytes(expect.nonce, peer, expect.serverFp),
      signature,
    )
  )
    return { ok: false, reason: "the answer is not signed by the certificate's key" };
  return { ok: true, peer, certificate: cert.certificate };
}
