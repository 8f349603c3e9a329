// Throwaway X25519 identities for FedAvg tests: what NodeKeys offers (agree, public key, fingerprint).
import { createHash, createPublicKey, diffieHellman, generateKeyPairSync } from "node:crypto";
import { publicKeyFromRaw } from "../identity/node-keys.ts";

export interface TestIdentity {
  fingerprint: string;
  agreementPublicKey: Uint8Array;
  agree(peer: Uint8Array): Uint8Array;
}

export function testIdentity(): TestIdentity {
  const { privateKey } = generateKeyPairSync("x25519");
  const jwk = createPublicKey(privateKey).export({ format: "jwk" });
  const pub = new Uint8Array(Buffer.from(jwk.x as string, "base64url"));
  return {
    fingerprint: createHash("sha256").update(pub).digest("hex").slice(0, 32),
    agreementPublicKey: pub,
    agree: (peer) =>
      new Uint8Array(diffieHellman({ privateKey, publicKey: publicKeyFromRaw("x25519", peer) })),
  };
}

/** Deterministic pseudo-random floats in [-amp, amp] for synthetic updates. */
export function pseudoFloats(n: number, seed: number, amp = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * 2 * amp;
  }
  return out;
}
