// An author's signature over the root of its own log at a length: one signature vouches for every
// block up to there, and any single block is then checked with an inclusion proof.
import type { NodeKeys } from "../identity/node-keys.ts";
import { fingerprintOf, verifySignature } from "../identity/node-keys.ts";
import { chainSignedRootBytes } from "../identity/signed-bytes.ts";
import { HASH_BYTES } from "./block.ts";

export interface SignedRoot {
  author: string;
  length: number;
  root: Uint8Array;
  /** Author's wall clock when it signed, ms since the epoch. */
  ts: number;
  signature: Uint8Array;
}

export function signRoot(
  keys: NodeKeys,
  fields: { length: number; root: Uint8Array; ts: number },
): SignedRoot {
  const author = keys.fingerprint;
  const signature = keys.sign(chainSignedRootBytes(author, fields.length, fields.root, fields.ts));
  return { author, length: fields.length, root: fields.root, ts: fields.ts, signature };
}

/**
 * True when `authorPublicKey` is the author's key (its fingerprint matches) and the signature
 * covers exactly these fields. Never throws, whatever a peer sent.
 */
export function verifySignedRoot(root: SignedRoot, authorPublicKey: Uint8Array): boolean {
  if (!root || typeof root.author !== "string") return false;
  if (!Number.isSafeInteger(root.length) || root.length < 0) return false;
  if (!Number.isSafeInteger(root.ts) || root.ts < 0) return false;
  if (!(root.root instanceof Uint8Array) || root.root.length !== HASH_BYTES) return false;
  if (!(root.signature instanceof Uint8Array) || !(authorPublicKey instanceof Uint8Array)) return false;
  if (authorPublicKey.length !== 32 || fingerprintOf(authorPublicKey) !== root.author) return false;
  return verifySignature(
    authorPublicKey,
    chainSignedRootBytes(root.author, root.length, root.root, root.ts),
    root.signature,
  );
}
