import { describe, expect, test } from "bun:test";
import { chmodSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isKianaError } from "../errors.ts";
import { verifyCertificate } from "./enrolment.ts";
import {
  createFleetAuthority,
  decodeFleetInfo,
  issueCertificate,
  loadFleetAuthority,
  loadFleetInfo,
} from "./fleet-authority.ts";
import { enrolNode, seededRandom, T0, tempDir } from "./test-fleet.test-helper.ts";

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected a throw");
}

describe("fleet authority", () => {
  test("init writes a 0600 PKCS#8 key and fleet.json; load gives the same authority", () => {
    const dir = tempDir();
    const a = createFleetAuthority({ dir, fleetId: "home", now: T0 });
    expect(statSync(join(dir, "fleet-authority.pem")).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, "fleet-authority.pem"), "utf8")).toContain("BEGIN PRIVATE KEY");
    const info = loadFleetInfo(dir);
    expect(info.fleetId).toBe("home");
    expect(info.createdAt).toBe(T0);
    expect(Buffer.from(info.publicKey).equals(Buffer.from(a.publicKey))).toBe(true);
    const b = loadFleetAuthority(dir);
    const node = enrolNode(b, "kitchen");
    expect(verifyCertificate(node.cert, { fleetPublicKey: a.publicKey, fleetId: "home", now: T0 }).ok).toBe(
      true,
    );
  });

  test("init never overwrites an existing authority", () => {
    const dir = tempDir();
    createFleetAuthority({ dir, fleetId: "home", now: T0 });
    const before = readFileSync(join(dir, "fleet-authority.pem"), "utf8");
    const err = errorOf(() => createFleetAuthority({ dir, fleetId: "home", now: T0 + 1 }));
    expect(isKianaError(err, "IDENTITY_FLEET_EXISTS")).toBe(true);
    expect((err as Error).message).toContain("never overwritten");
    expect(readFileSync(join(dir, "fleet-authority.pem"), "utf8")).toBe(before);
  });

  test("fleet ids follow the node-name rule", () => {
    for (const fleetId of ["Home", "-home", "home-", "a".repeat(64), "home.lan", ""]) {
      const err = errorOf(() => createFleetAuthority({ dir: tempDir(), fleetId, now: T0 }));
      expect(isKianaError(err, "IDENTITY_FLEET_INVALID")).toBe(true);
    }
  });

  test("a key that does not match fleet.json is refused; loose permissions are tightened", () => {
    const one = tempDir();
    const two = tempDir();
    createFleetAuthority({ dir: one, fleetId: "home", now: T0 });
    createFleetAuthority({ dir: two, fleetId: "home", now: T0 });
    writeFileSync(join(one, "fleet.json"), readFileSync(join(two, "fleet.json")));
    const err = errorOf(() => loadFleetAuthority(one));
    expect(isKianaError(err, "IDENTITY_KEY_INVALID")).toBe(true);
    expect((err as Error).message).toContain("different fleets");
    chmodSync(join(two, "fleet-authority.pem"), 0o644);
    loadFleetAuthority(two);
    expect(statSync(join(two, "fleet-authority.pem")).mode & 0o777).toBe(0o600);
  });

  test("fleet.json errors name the field", () => {
    const good = { fleetId: "home", publicKey: Buffer.alloc(32, 7).toString("base64url"), createdAt: T0 };
    expect(decodeFleetInfo(JSON.stringify(good)).fleetId).toBe("home");
    for (const [obj, field] of [
      [{ ...good, fleetId: "Home" }, "fleetId"],
      [{ ...good, publicKey: "AAAA" }, "publicKey"],
      [{ ...good, createdAt: "now" }, "createdAt"],
    ] as const) {
      const err = errorOf(() => decodeFleetInfo(JSON.stringify(obj)));
      expect((err as Error).message).toContain(`"${field}"`);
    }
    expect(
      isKianaError(
        errorOf(() => loadFleetInfo(tempDir())),
        "IDENTITY_FLEET_INVALID",
      ),
    ).toBe(true);
  });

  test("issue: serial from the given random source, and clear refusals of bad requests", () => {
    const fleet = createFleetAuthority({ dir: tempDir(), fleetId: "home", now: T0 });
    const { keys } = enrolNode(fleet, "seed");
    const base = {
      name: "kitchen",
      role: "node" as const,
      signingKey: keys.signingPublicKey,
      agreementKey: keys.agreementPublicKey,
      validDays: 30,
      now: T0,
    };
    const a = issueCertificate(fleet, { ...base, random: seededRandom(3) });
    const b = issueCertificate(fleet, { ...base, random: seededRandom(3) });
    expect(a.serial).toMatch(/^[0-9a-f]{32}$/);
    expect(a.serial).toBe(b.serial);
    expect(issueCertificate(fleet, { ...base, serial: "inv-7" }).serial).toBe("inv-7");
    const bad: [Partial<typeof base> & { serial?: string }, string][] = [
      [{ name: "Kitchen" }, "name"],
      [{ role: "king" as "node" }, "role"],
      [{ validDays: 0 }, "validDays"],
      [{ validDays: 1.5 }, "validDays"],
      [{ signingKey: new Uint8Array(3) }, "signingKey"],
      [{ serial: "a b" }, "serial"],
    ];
    for (const [change, field] of bad) {
      const err = errorOf(() => issueCertificate(fleet, { ...base, ...change }));
      expect(isKianaError(err, "IDENTITY_CERT_INVALID")).toBe(true);
      expect((err as Error).message).toContain(field);
    }
    const lowOrder = errorOf(() => issueCertificate(fleet, { ...base, agreementKey: new Uint8Array(32) }));
    expect(isKianaError(lowOrder, "IDENTITY_PUBKEY_INVALID")).toBe(true);
  });
});
