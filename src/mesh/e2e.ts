// End-to-end encryption of direct messages between two enrolled devices, so the broker and the
// other devices see only ciphertext.
//
// Composition: the sender seals the plaintext with `sealDirect` and sends the result as the body
// of a signed envelope of type "direct" (`sealEnvelope`). The recipient first opens the envelope
// (`openEnvelope`: enrolment, signature, clock, replay), then `openDirect` with the sender's
// certificate agreement key and `envelope.from` as senderFp. The signature makes the ciphertext
// part of a numbered, replay-checked message; the AEAD keeps it secret and binds it to both parties.
//
// Key: HKDF-SHA256 over the static X25519 secret of the two certified agreement keys, info =
// `directKeyInfo` (domain tag, both fingerprints and both keys, in direction order), so each
// direction has its own key. Cipher: XChaCha20-Poly1305 with a fresh random 24-byte nonce per
// message (random nonces of that size never collide in practice), AAD = `directAad`.
// Static keys mean no forward secrecy: a leaked agreement key exposes that device's past direct
// messages, which is what key rotation is for.
import { hkdfSync } from "node:crypto";
import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { kianaError } from "../errors.ts";
import type { NodeKeys } from "../identity/node-keys.ts";
import { directAad, directKeyInfo } from "../identity/signed-bytes.ts";

export const DIRECT_TYPE = "direct";
export const DIRECT_REFUSALS = ["malformed", "not-for-me", "undecryptable"] as const;
export type DirectRefusalReason = (typeof DIRECT_REFUSALS)[number];
export type DirectOpenResult =
  | { ok: true; plaintext: Uint8Array }
  | { ok: false; reason: DirectRefusalReason; detail: string };

const VERSION = 1;
const NONCE_BYTES = 24;
const TAG_BYTES = 16;
/** Layout: u8 version | 16 bytes recipient fingerprint | 24-byte nonce | ciphertext with tag. */
const HEAD = 1 + 16 + NONCE_BYTES;
const FINGERPRINT = /^[0-9a-f]{32}$/;

type AgreementKeys = Pick<NodeKeys, "agree" | "agreementPublicKey">;

function messageKey(
  own: AgreementKeys,
  peerAgreementKey: Uint8Array,
  parties: {
    senderFp: string;
    recipientFp: string;
    senderAgreementKey: Uint8Array;
    recipientAgreementKey: Uint8Array;
  },
): Uint8Array {
  const shared = own.agree(peerAgreementKey);
  return new Uint8Array(hkdfSync("sha256", shared, new Uint8Array(0), directKeyInfo(parties), 32));
}

export interface SealDirectOptions {
  senderKeys: AgreementKeys;
  recipientAgreementKey: Uint8Array;
  senderFp: string;
  recipientFp: string;
  plaintext: Uint8Array;
  random: (n: number) => Uint8Array;
}

export function sealDirect(opts: SealDirectOptions): Uint8Array {
  for (const [name, fp] of [
    ["senderFp", opts.senderFp],
    ["recipientFp", opts.recipientFp],
  ] as const)
    if (!FINGERPRINT.test(fp))
      throw kianaError("MESH_DIRECT_INVALID", `${name} "${fp}" is not a fingerprint`);
  const nonce = opts.random(NONCE_BYTES);
  if (nonce.length !== NONCE_BYTES)
    throw kianaError("MESH_DIRECT_INVALID", "random() returned a short nonce");
  let key: Uint8Array;
  try {
    key = messageKey(opts.senderKeys, opts.recipientAgreementKey, {
      senderFp: opts.senderFp,
      recipientFp: opts.recipientFp,
      senderAgreementKey: opts.senderKeys.agreementPublicKey,
      recipientAgreementKey: opts.recipientAgreementKey,
    });
  } catch (err) {
    throw kianaError("MESH_DIRECT_INVALID", "the recipient's agreement key is not usable", {}, err);
  }
  const sealed = xchacha20poly1305(key, nonce, directAad(VERSION, opts.senderFp, opts.recipientFp)).encrypt(
    opts.plaintext,
  );
  const out = new Uint8Array(HEAD + sealed.length);
  out[0] = VERSION;
  out.set(Buffer.from(opts.recipientFp, "hex"), 1);
  out.set(nonce, 17);
  out.set(sealed, HEAD);
  return out;
}

export interface OpenDirectOptions {
  recipientKeys: AgreementKeys;
  /** From the sender's verified certificate, never from the message. */
  senderAgreementKey: Uint8Array;
  senderFp: string;
  recipientFp: string;
  sealed: Uint8Array;
}

/** Decrypts a direct message; never throws on bad input. */
export function openDirect(opts: OpenDirectOptions): DirectOpenResult {
  const { sealed } = opts;
  if (!(sealed instanceof Uint8Array) || sealed.length < HEAD + TAG_BYTES)
    return { ok: false, reason: "malformed", detail: "too short for a direct message" };
  if (sealed[0] !== VERSION)
    return { ok: false, reason: "malformed", detail: `unknown version ${sealed[0]}` };
  const to = Buffer.from(sealed.subarray(1, 17)).toString("hex");
  if (to !== opts.recipientFp) return { ok: false, reason: "not-for-me", detail: `addressed to ${to}` };
  try {
    const key = messageKey(opts.recipientKeys, opts.senderAgreementKey, {
      senderFp: opts.senderFp,
      recipientFp: opts.recipientFp,
      senderAgreementKey: opts.senderAgreementKey,
      recipientAgreementKey: opts.recipientKeys.agreementPublicKey,
    });
    const aad = directAad(VERSION, opts.senderFp, opts.recipientFp);
    const plaintext = xchacha20poly1305(key, sealed.subarray(17, HEAD), aad).decrypt(sealed.subarray(HEAD));
    return { ok: true, plaintext };
  } catch {
    return {
      ok: false,
      reason: "undecryptable",
      detail: "authentication failed: wrong key, sender or tampering",
    };
  }
}
