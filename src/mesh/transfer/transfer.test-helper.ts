// Test fixture for transfers: two enrolled nodes with real keys and envelope auth, an outsider from
// another fleet, and deterministic pseudo-random files written to a temp folder.
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Certificate } from "../../identity/enrolment.ts";
import { enrolNode, T0, type TestNode, testFleet } from "../../identity/test-fleet.test-helper.ts";
import { type Clock, systemClock } from "../../platform/clock.ts";
import { createEnvelopeAuth, type EnvelopeAuth } from "./auth.ts";

export const FLEET = "home";

export interface TestPeer extends TestNode {
  name: string;
  auth: EnvelopeAuth;
}

/** Clock at real speed, shifted so the certificates (issued at T0) are valid. */
export function fleetClock(): Clock {
  const shift = T0 + 86_400_000 - Date.now();
  return { ...systemClock, now: () => Date.now() + shift };
}

export function testPeers(clock: Clock = fleetClock()) {
  const fleet = testFleet(FLEET);
  const other = testFleet("office");
  const roster = new Map<string, Certificate>();
  const make = (authority: typeof fleet, name: string): TestPeer => {
    const node = enrolNode(authority, name);
    roster.set(node.fp, node.cert);
    let seq = 0;
    const auth = createEnvelopeAuth({
      keys: node.keys,
      nextSeq: () => ++seq,
      clock,
      open: { roster: (fp) => roster.get(fp), fleetPublicKey: fleet.publicKey, fleetId: FLEET },
    });
    return { ...node, name, auth };
  };
  return { alice: make(fleet, "alice"), bob: make(fleet, "bob"), mallory: make(other, "mallory"), clock };
}

export function tempFolder(prefix = "kiana-xfer-"): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Writes `size` deterministic bytes (xorshift32, fast: 4 bytes per step); returns their sha256. */
export async function writeTestFile(path: string, size: number, seed = 7): Promise<string> {
  const hash = createHash("sha256");
  const writer = Bun.file(path).writer();
  let s = seed >>> 0 || 1;
  const block = new Uint32Array(64 * 1024);
  for (let left = size; left > 0; ) {
    for (let i = 0; i < block.length; i++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      block[i] = s >>> 0;
    }
    // A copy: the writer may hold on to what it is given while the block is refilled.
    const bytes = new Uint8Array(block.buffer, 0, Math.min(left, block.byteLength)).slice();
    writer.write(bytes);
    hash.update(bytes);
    left -= bytes.length;
  }
  await writer.end();
  return hash.digest("hex");
}
