// The one module that builds bytes to sign (and the other domain-separated inputs to crypto):
// each kind has a versioned, labelled tag, so a signature made for one purpose never verifies as another.
import { kianaError } from "../errors.ts";
import type { UnsignedCertificate } from "./enrolment.ts";

/**
 * Domain tags. A tag is never reused for a different layout: changing what is signed means a new
 * `v2` tag beside the old one.
 */
export const DOMAIN = {
  fleetCertificate: "kiana/v1/fleet-certificate",
  envelope: "kiana/v1/envelope",
  /** HKDF info for the key of an end-to-end encrypted direct message. */
  directKey: "kiana/v1/direct-key",
  /** AEAD associated data of a direct message. */
  directAad: "kiana/v1/direct-aad",
  /** HKDF info for a device's MQTT password at the hub's broker. */
  brokerPassword: "kiana/v1/broker-password",
  /** Leaf hash input of a chain block. */
  chainBlock: "kiana/v1/chain-block",
  /** Hash input of an inner Merkle node of a chain log. */
  chainParent: "kiana/v1/chain-parent",
  /** Hash input of a chain log's root, built from its full-subtree roots. */
  chainTree: "kiana/v1/chain-tree",
  /** What an author signs: the root of its log at a length. */
  chainSignedRoot: "kiana/v1/chain-signed-root",
  /** A device answering a sync server's challenge: proves it holds the key its certificate names. */
  chainSyncAuth: "kiana/v1/chain-sync-auth",
  /** A sync server proving to the client, over the client's nonce, that it holds its certificate's key. */
  chainSyncServerAuth: "kiana/v1/chain-sync-server-auth",
  /** HKDF info for the pairwise mask seed of two FedAvg clients in one round (secure aggregation). */
  fedavgMask: "kiana/v1/fedavg-mask",
} as const;

export type DomainTag = (typeof DOMAIN)[keyof typeof DOMAIN];

/** A field to encode: raw bytes, a UTF-8 string, or an unsigned safe integer. */
export type SignedField = Uint8Array | string | number;

const KIND_BYTES = 1;
const KIND_STRING = 2;
const KIND_UINT = 3;
const utf8 = new TextEncoder();

function fieldBytes(field: SignedField, index: number): { kind: number; data: Uint8Array } {
  if (field instanceof Uint8Array) return { kind: KIND_BYTES, data: field };
  if (typeof field === "string") return { kind: KIND_STRING, data: utf8.encode(field) };
  if (typeof field === "number" && Number.isSafeInteger(field) && field >= 0) {
    const data = new Uint8Array(8);
    new DataView(data.buffer).setBigUint64(0, BigInt(field));
    return { kind: KIND_UINT, data };
  }
  throw kianaError(
    "IDENTITY_ENCODING_INVALID",
    `field ${index} cannot be signed: ${String(field)} is not bytes, a string or an unsigned integer`,
    { index },
  );
}

/**
 * The canonical encoding: u32 length + tag, u32 field count, then per field a kind byte, a u32
 * length and the data (integers as 8 bytes big-endian). Every length is explicit and the kind is
 * part of the bytes, so no two different field lists encode the same, whatever they contain.
 */
export function encodeSigned(domain: DomainTag, fields: readonly SignedField[]): Uint8Array {
  const tag = utf8.encode(domain);
  const parts = fields.map(fieldBytes);
  const total = 4 + tag.length + 4 + parts.reduce((n, p) => n + 5 + p.data.length, 0);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let at = 0;
  view.setUint32(at, tag.length);
  out.set(tag, at + 4);
  at += 4 + tag.length;
  view.setUint32(at, parts.length);
  at += 4;
  for (const { kind, data } of parts) {
    out[at] = kind;
    view.setUint32(at + 1, data.length);
    out.set(data, at + 5);
    at += 5 + data.length;
  }
  return out;
}

/** What the fleet authority signs in an enrolment certificate. */
export function certificateBytes(cert: UnsignedCertificate): Uint8Array {
  return encodeSigned(DOMAIN.fleetCertificate, [
    cert.version,
    cert.fleetId,
    cert.name,
    cert.role,
    cert.signingKey,
    cert.agreementKey,
    cert.issuedAt,
    cert.expiresAt,
    cert.serial,
  ]);
}

/** The signed header of a mesh envelope (defined here so identity does not depend on mesh). */
export interface EnvelopeHeader {
  v: 1;
  /** Fingerprint of the sender's certificate (its signing key). */
  from: string;
  /** Per-sender, strictly increasing. */
  seq: number;
  /** Sender's wall clock, ms since the epoch. */
  ts: number;
  /** Short application message type, e.g. `direct`, `presence`. */
  type: string;
}

/** What a sender signs in a mesh envelope: the whole header and the body. */
export function envelopeBytes(header: EnvelopeHeader, body: Uint8Array): Uint8Array {
  return encodeSigned(DOMAIN.envelope, [header.v, header.from, header.seq, header.ts, header.type, body]);
}

/** Parties of a direct message, in the direction it travels. */
export interface DirectParties {
  senderFp: string;
  recipientFp: string;
  senderAgreementKey: Uint8Array;
  recipientAgreementKey: Uint8Array;
}

/**
 * HKDF info for a direct message key. Binding both fingerprints and both agreement keys, in
 * direction order, gives each direction its own key and ties the key to the enrolled identities.
 */
export function directKeyInfo(p: DirectParties): Uint8Array {
  return encodeSigned(DOMAIN.directKey, [
    p.senderFp,
    p.recipientFp,
    p.senderAgreementKey,
    p.recipientAgreementKey,
  ]);
}

/** AEAD associated data: the format version and who the message is from and for. */
export function directAad(version: number, senderFp: string, recipientFp: string): Uint8Array {
  return encodeSigned(DOMAIN.directAad, [version, senderFp, recipientFp]);
}

/** HKDF info for a device's broker password: both the hub and the device derive it, nothing is sent. */
export function brokerPasswordInfo(deviceFp: string, hubFp: string): Uint8Array {
  return encodeSigned(DOMAIN.brokerPassword, [deviceFp, hubFp]);
}

/** The fields of a chain block (defined here so identity does not depend on chain). */
export interface ChainBlockFields {
  /** Fingerprint of the author's signing key (32 lowercase hex characters). */
  author: string;
  /** 0-based position in the author's log. */
  seq: number;
  /** Leaf hash of the previous block, or 32 zero bytes for the first. */
  prev: Uint8Array;
  /** Author's wall clock, ms since the epoch. */
  ts: number;
  /** Short block type, e.g. `knowledge`, `vote`. */
  type: string;
  body: Uint8Array;
}

/** Input of a block's leaf hash: every field, so no two different blocks share a leaf. */
export function chainBlockBytes(b: ChainBlockFields): Uint8Array {
  return encodeSigned(DOMAIN.chainBlock, [b.author, b.seq, b.prev, b.ts, b.type, b.body]);
}

/** Input of an inner node's hash; the leaf count stops a subtree posing as one of another size. */
export function chainParentBytes(left: Uint8Array, right: Uint8Array, leaves: number): Uint8Array {
  return encodeSigned(DOMAIN.chainParent, [left, right, leaves]);
}

/** Input of a log's root hash: the length, then each full-subtree root hash, left to right. */
export function chainTreeBytes(length: number, peaks: readonly Uint8Array[]): Uint8Array {
  return encodeSigned(DOMAIN.chainTree, [length, ...peaks]);
}

/** What an author signs about its own log: one signature covers every block up to `length`. */
export function chainSignedRootBytes(
  author: string,
  length: number,
  root: Uint8Array,
  ts: number,
): Uint8Array {
  return encodeSigned(DOMAIN.chainSignedRoot, [author, length, root, ts]);
}

/** What a sync client signs: the server's fresh nonce, bound to both parties' fingerprints. */
export function chainSyncAuthBytes(nonce: Uint8Array, clientFp: string, serverFp: string): Uint8Array {
  return encodeSigned(DOMAIN.chainSyncAuth, [nonce, clientFp, serverFp]);
}

/** What a sync server signs: the client's fresh nonce, bound to both parties' fingerprints. */
export function chainSyncServerAuthBytes(nonce: Uint8Array, serverFp: string, clientFp: string): Uint8Array {
  return encodeSigned(DOMAIN.chainSyncServerAuth, [nonce, serverFp, clientFp]);
}

/** HKDF info of a pairwise FedAvg mask: the round and both parties, lower fingerprint first. */
export function fedavgMaskInfo(round: string, lowFp: string, highFp: string): Uint8Array {
  return encodeSigned(DOMAIN.fedavgMask, [round, lowFp, highFp]);
}
