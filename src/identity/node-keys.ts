// The node's own keys: Ed25519 for signing, X25519 for key agreement. Created on first start,
// kept as PKCS#8 PEM files (mode 0600) in <data>/keys, never rewritten once they exist.

import {
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describeError, kianaError } from "../errors.ts";
import { writeFileAtomic } from "../platform/atomic-file.ts";
import type { Logger } from "../platform/log.ts";

export interface NodeKeys {
  /** Raw 32-byte Ed25519 public key. */
  signingPublicKey: Uint8Array;
  /** Raw 32-byte X25519 public key. */
  agreementPublicKey: Uint8Array;
  /** Short stable id of this node: hex of the first 16 bytes of sha256(signing public key). */
  fingerprint: string;
  sign(message: Uint8Array): Uint8Array;
  /** X25519 shared secret with a peer's raw public key. */
  agree(peerPublicKey: Uint8Array): Uint8Array;
}

export function fingerprintOf(signingPublicKey: Uint8Array): string {
  return createHash("sha256").update(signingPublicKey).digest("hex").slice(0, 32);
}

/** Formats a fingerprint for people: groups of four, e.g. `3f2a-91c0-…`. */
export function formatFingerprint(fp: string): string {
  return fp.match(/.{1,4}/g)?.join("-") ?? fp;
}

/** The raw 32-byte public key of an Ed25519 or X25519 private key. */
export function rawPublicKey(privateKey: KeyObject): Uint8Array {
  const jwk = createPublicKey(privateKey).export({ format: "jwk" });
  if (!jwk.x) throw new Error("public key has no x coordinate");
  return new Uint8Array(Buffer.from(jwk.x, "base64url"));
}

const SPKI_PREFIX = { ed25519: "302a300506032b6570032100", x25519: "302a300506032b656e032100" } as const;

export function publicKeyFromRaw(kind: "ed25519" | "x25519", raw: Uint8Array): KeyObject {
  if (raw.length !== 32)
    throw kianaError("IDENTITY_KEY_INVALID", `${kind} public key must be 32 bytes, got ${raw.length}`);
  const der = Buffer.concat([Buffer.from(SPKI_PREFIX[kind], "hex"), raw]);
  return createPublicKey({ key: der, format: "der", type: "spki" });
}

export function verifySignature(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    return verify(null, message, publicKeyFromRaw("ed25519", publicKey), signature);
  } catch {
    return false;
  }
}

function loadOrCreate(path: string, kind: "ed25519" | "x25519", log?: Logger): KeyObject {
  if (!existsSync(path)) {
    const { privateKey } = generateKeyPairSync(kind as "ed25519");
    writeFileAtomic(path, privateKey.export({ format: "pem", type: "pkcs8" }).toString(), 0o600);
    log?.info({ path, kind }, "created node key");
    return privateKey;
  }
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o077) {
    chmodSync(path, 0o600);
    log?.warn({ path, mode: mode.toString(8) }, "key file was readable by others; set to 0600");
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(readFileSync(path));
  } catch (err) {
    throw kianaError(
      "IDENTITY_KEY_INVALID",
      `the key file ${path} is not a readable private key (${describeError(err)}); it was left as it is. Restore it from a backup, or move it aside to create a new identity (peers will see a new node).`,
      { path },
      err,
    );
  }
  if (key.asymmetricKeyType !== kind) {
    throw kianaError(
      "IDENTITY_KEY_INVALID",
      `the key file ${path} holds a ${key.asymmetricKeyType} key, expected ${kind}`,
      {
        path,
      },
    );
  }
  return key;
}

export function loadNodeKeys(opts: { dataDir: string; log?: Logger }): NodeKeys {
  const dir = join(opts.dataDir, "keys");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const signing = loadOrCreate(join(dir, "signing.pem"), "ed25519", opts.log);
  const agreement = loadOrCreate(join(dir, "agreement.pem"), "x25519", opts.log);
  const signingPublicKey = rawPublicKey(signing);
  const agreementPublicKey = rawPublicKey(agreement);
  return {
    signingPublicKey,
    agreementPublicKey,
    fingerprint: fingerprintOf(signingPublicKey),
    sign: (message) => new Uint8Array(sign(null, message, signing)),
    agree: (peer) =>
      new Uint8Array(diffieHellman({ privateKey: agreement, publicKey: publicKeyFromRaw("x25519", peer) })),
  };
}
