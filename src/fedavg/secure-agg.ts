// Secure aggregation by pairwise masks: every pair of clients in a round's cohort agrees a seed over
// their certified X25519 keys; the lower fingerprint adds the seed's keystream to its update and the
// higher subtracts it. Updates travel as uint32 fixed point, so in the sum mod 2^32 the masks cancel
// exactly and the coordinator learns only Σ nᵢ·Δᵢ and Σ nᵢ. When a client drops out after the cohort
// was fixed, each survivor reveals its seed with that client (for this round only, via HKDF) and the
// coordinator removes those masks; an update arriving from a client already declared dropped is refused,
// so a revealed seed never unmasks anyone's update.
import { createCipheriv, hkdfSync } from "node:crypto";
import { fedavgMaskInfo } from "../identity/signed-bytes.ts";
import { BLOCK } from "./update-codec.ts";

export interface MaskParty {
  fingerprint: string;
  /** Raw 32-byte X25519 public key from the party's enrolment certificate. */
  agreementKey: Uint8Array;
}

/** A node's agreement key, as NodeKeys offers it: the secret never leaves identity/. */
export interface MaskKeys {
  agree(peerPublicKey: Uint8Array): Uint8Array;
}

/** The pair's seed for one round: HKDF over the static X25519 secret, bound to round and both parties. */
export function pairSeed(own: MaskKeys, ownFp: string, peer: MaskParty, roundId: string): Uint8Array {
  const [low, high] = ownFp < peer.fingerprint ? [ownFp, peer.fingerprint] : [peer.fingerprint, ownFp];
  const shared = own.agree(peer.agreementKey);
  return new Uint8Array(
    hkdfSync("sha256", shared, new Uint8Array(0), fedavgMaskInfo(roundId, low, high), 32),
  );
}

/** +1 for the lower fingerprint of a pair, −1 for the higher one. */
export function maskSign(ownFp: string, peerFp: string): 1 | -1 {
  return ownFp < peerFp ? 1 : -1;
}

/**
 * Adds sign × keystream(seed) to `target` mod 2^32, in blocks so a 5 M-weight mask never exists
 * whole. AES-256-CTR under a fresh key per pair and round: native speed, and a zero IV is safe
 * because no key is used twice.
 */
export function applyMask(target: Uint32Array, seed: Uint8Array, sign: 1 | -1): void {
  const cipher = createCipheriv("aes-256-ctr", seed, new Uint8Array(16));
  const zeros = new Uint8Array(BLOCK * 4);
  for (let at = 0; at < target.length; at += BLOCK) {
    const n = Math.min(BLOCK, target.length - at);
    const bytes = cipher.update(zeros.subarray(0, n * 4));
    const ks = new Uint32Array(bytes.buffer, bytes.byteOffset, n);
    if (sign === 1) for (let i = 0; i < n; i++) target[at + i] = ((target[at + i] ?? 0) + (ks[i] ?? 0)) >>> 0;
    else for (let i = 0; i < n; i++) target[at + i] = ((target[at + i] ?? 0) - (ks[i] ?? 0)) >>> 0;
  }
}

/** Masks a fixed-point update with every other member of the cohort, in place. */
export function maskUpdate(
  fixed: Uint32Array,
  own: MaskKeys,
  ownFp: string,
  cohort: readonly MaskParty[],
  roundId: string,
): void {
  for (const peer of cohort) {
    if (peer.fingerprint === ownFp) continue;
    applyMask(fixed, pairSeed(own, ownFp, peer, roundId), maskSign(ownFp, peer.fingerprint));
  }
}

/**
 * A power-of-two scale such that the largest possible sum, maxClients × maxExamples × 2·clip per
 * weight (the 2 leaves room for DP noise beyond the clip), stays inside int32.
 */
export function fixedPointScale(maxClients: number, maxExamples: number, clipNorm: number): number {
  const bound = maxClients * maxExamples * 2 * clipNorm;
  return 2 ** Math.floor(Math.log2((2 ** 31 - 1) / bound));
}

/** nᵢ·Δᵢ·scale rounded into uint32 (two's complement), with nᵢ itself appended as the last value. */
export function toFixedPoint(
  delta: Float32Array,
  examples: number,
  scale: number,
  maxExamples: number,
): Uint32Array {
  const out = new Uint32Array(delta.length + 1);
  // Clamped to one client's share of the int32 range so a noisy outlier cannot wrap the sum.
  const limit = Math.floor((2 ** 31 - 1) / Math.max(1, maxExamples));
  for (let i = 0; i < delta.length; i++) {
    const v = Math.round((delta[i] ?? 0) * examples * scale);
    out[i] = Math.max(-limit * examples, Math.min(limit * examples, v)) >>> 0;
  }
  out[delta.length] = examples >>> 0;
  return out;
}

/** The unmasked sum back to floats: Σ nᵢΔᵢ / Σ nᵢ, and Σ nᵢ. */
export function fromFixedPoint(sum: Uint32Array, scale: number): { mean: Float32Array; weight: number } {
  const p = sum.length - 1;
  const weight = sum[p] ?? 0;
  const mean = new Float32Array(p);
  if (weight === 0) return { mean, weight };
  const asSigned = new Int32Array(sum.buffer, sum.byteOffset, sum.length);
  for (let i = 0; i < p; i++) mean[i] = (asSigned[i] ?? 0) / scale / weight;
  return { mean, weight };
}
