// Test fixture: a fleet authority in a temporary directory and enrolled nodes with real keys.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Certificate, Role } from "./enrolment.ts";
import { createFleetAuthority, type FleetAuthority, issueCertificate } from "./fleet-authority.ts";
import { loadNodeKeys, type NodeKeys } from "./node-keys.ts";

export const T0 = 1_700_000_000_000;

export const tempDir = (prefix = "kiana-fleet-") => mkdtempSync(join(tmpdir(), prefix));

export function testFleet(fleetId = "home", now = T0): FleetAuthority {
  return createFleetAuthority({ dir: tempDir(), fleetId, now });
}

export interface TestNode {
  keys: NodeKeys;
  cert: Certificate;
  fp: string;
}

export function enrolNode(
  authority: FleetAuthority,
  name: string,
  opts: { role?: Role; now?: number; validDays?: number; keys?: NodeKeys } = {},
): TestNode {
  const keys = opts.keys ?? loadNodeKeys({ dataDir: tempDir("kiana-node-") });
  const cert = issueCertificate(authority, {
    name,
    role: opts.role ?? "node",
    signingKey: keys.signingPublicKey,
    agreementKey: keys.agreementPublicKey,
    validDays: opts.validDays ?? 365,
    now: opts.now ?? T0,
  });
  return { keys, cert, fp: keys.fingerprint };
}

/** A deterministic byte source for tests (xorshift32), never for real nonces. */
export function seededRandom(seed = 1): (n: number) => Uint8Array {
  let s = seed >>> 0 || 1;
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      s >>>= 0;
      out[i] = s & 0xff;
    }
    return out;
  };
}
