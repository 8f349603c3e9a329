// What a client does to its update before it leaves the device: L2 clipping (bounds any one
// household's influence on the global model) and, with differential privacy on, Gaussian noise.
import type { Rng } from "./rng.ts";

export function l2Norm(v: Float32Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += (v[i] ?? 0) * (v[i] ?? 0);
  return Math.sqrt(s);
}

/** Scales `v` in place so its L2 norm is at most `clip`; returns the norm before clipping. */
export function clipL2(v: Float32Array, clip: number): number {
  const norm = l2Norm(v);
  if (norm > clip && norm > 0) {
    // Float32 rounding can push the scaled norm a hair above clip; aim just under it.
    const f = (clip / norm) * (1 - 1e-6);
    for (let i = 0; i < v.length; i++) v[i] = (v[i] ?? 0) * f;
  }
  return norm;
}

export interface DpSettings {
  /** z: noise standard deviation in units of the clip norm. Recorded with the released model. */
  noiseMultiplier: number;
  clipNorm: number;
  /**
   * Clients the noise is spread over: each adds std z·C/√minClients, so the sum of at least that
   * many updates carries std ≥ z·C, as in central DP-FedAvg, without trusting the coordinator.
   */
  minClients: number;
}

/** The per-client standard deviation for these settings. */
export function clientNoiseStd(dp: DpSettings): number {
  return (dp.noiseMultiplier * dp.clipNorm) / Math.sqrt(Math.max(1, dp.minClients));
}

/** Adds N(0, std²) to every weight, in place, from the seeded generator. */
export function addGaussianNoise(v: Float32Array, std: number, rng: Rng): void {
  if (std <= 0) return;
  for (let i = 0; i < v.length; i++) v[i] = (v[i] ?? 0) + std * rng.gaussian();
}
