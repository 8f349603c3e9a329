import { describe, expect, test } from "bun:test";
import { isKianaError } from "../errors.ts";
import {
  type Certificate,
  certificateFingerprint,
  createCertificateCache,
  DAY_MS,
  decodeCertificate,
  encodeCertificate,
  formatPublicKeys,
  parsePublicKeys,
  verifyCertificate,
} from "./enrolment.ts";
import { enrolNode, T0, testFleet } from "./test-fleet.test-helper.ts";

const fleet = testFleet("home");
const node = enrolNode(fleet, "kitchen", { role: "satellite" });
const opts = { fleetPublicKey: fleet.publicKey, fleetId: "home", now: T0 + DAY_MS };

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected a throw");
}

describe("certificates", () => {
  test("an issued certificate verifies, survives its text form and carries the node fingerprint", () => {
    expect(verifyCertificate(node.cert, opts)).toEqual({ ok: true });
    const back = decodeCertificate(encodeCertificate(node.cert));
    expect(back).toEqual(node.cert);
    expect(verifyCertificate(back, opts)).toEqual({ ok: true });
    expect(certificateFingerprint(back)).toBe(node.keys.fingerprint);
    expect(back.expiresAt - back.issuedAt).toBe(365 * DAY_MS);
  });

  test("changing any signed field breaks the fleet signature", () => {
    const flipped = (b: Uint8Array) => {
      const c = Uint8Array.from(b);
      c[7] = (c[7] ?? 0) ^ 1;
      return c;
    };
    const variants: Partial<Certificate>[] = [
      { name: "garage" },
      { role: "hub" },
      { issuedAt: node.cert.issuedAt - 1 },
      { expiresAt: node.cert.expiresAt + DAY_MS },
      { serial: "0" },
      { signingKey: flipped(node.cert.signingKey) },
      { agreementKey: flipped(node.cert.agreementKey) },
      { signature: flipped(node.cert.signature) },
    ];
    for (const v of variants) {
      const r = verifyCertificate({ ...node.cert, ...v }, opts);
      expect(r.ok ? "ok" : r.reason).toBe("bad-signature");
    }
  });

  test("expired, not yet valid, revoked, wrong fleet, other authority, malformed", () => {
    const reason = (c: Certificate, o: Partial<Parameters<typeof verifyCertificate>[1]>) => {
      const r = verifyCertificate(c, { ...opts, ...o });
      return r.ok ? "ok" : r.reason;
    };
    expect(reason(node.cert, { now: node.cert.expiresAt })).toBe("expired");
    expect(reason(node.cert, { now: node.cert.expiresAt - 1 })).toBe("ok");
    expect(reason(node.cert, { now: T0 - 10 * 60_000 })).toBe("not-yet-valid");
    expect(reason(node.cert, { now: T0 - 60_000 })).toBe("ok"); // within the default 5 min skew
    expect(reason(node.cert, { revoked: new Set([node.fp]) })).toBe("revoked");
    expect(reason(node.cert, { fleetId: "office" })).toBe("wrong-fleet");
    const office = testFleet("office");
    expect(reason(node.cert, { fleetPublicKey: office.publicKey, fleetId: undefined })).toBe("bad-signature");
    expect(reason(enrolNode(office, "desk").cert, {})).toBe("wrong-fleet");
    expect(reason({ ...node.cert, signingKey: new Uint8Array(31) }, {})).toBe("malformed");
    expect(reason({ ...node.cert, role: "king" as "hub" }, {})).toBe("malformed");
  });

  test("a cached signature check still enforces revocation and expiry", () => {
    const cache = createCertificateCache();
    expect(verifyCertificate(node.cert, { ...opts, cache }).ok).toBe(true);
    expect(cache.has(node.cert)).toBe(true);
    const r = verifyCertificate(node.cert, { ...opts, cache, revoked: new Set([node.fp]) });
    expect(r.ok ? "ok" : r.reason).toBe("revoked");
    const other = testFleet("home");
    const r2 = verifyCertificate(node.cert, { ...opts, cache, fleetPublicKey: other.publicKey });
    expect(r2.ok ? "ok" : r2.reason).toBe("bad-signature");
  });

  test("decoding names the bad field", () => {
    const good = JSON.parse(encodeCertificate(node.cert)) as Record<string, unknown>;
    const cases: [Record<string, unknown>, string][] = [
      [{ ...good, name: "Kitchen!" }, "name"],
      [{ ...good, fleetId: "-x" }, "fleetId"],
      [{ ...good, role: "king" }, "role"],
      [{ ...good, version: 2 }, "version"],
      [{ ...good, signingKey: "AAAA" }, "signingKey"],
      [{ ...good, agreementKey: "not base64!" }, "agreementKey"],
      [{ ...good, signature: 5 }, "signature"],
      [{ ...good, issuedAt: -1 }, "issuedAt"],
      [{ ...good, expiresAt: good.issuedAt }, "expiresAt"],
      [{ ...good, serial: "" }, "serial"],
      [{ ...good, extra: 1 }, "extra"],
      [{ ...good, serial: undefined }, "serial"],
    ];
    for (const [obj, field] of cases) {
      const err = errorOf(() => decodeCertificate(JSON.stringify(obj)));
      expect(isKianaError(err, "IDENTITY_CERT_INVALID")).toBe(true);
      expect((err as Error).message).toContain(`"${field}"`);
    }
    for (const text of ["", "{", "[]", "null", "42"])
      expect(
        isKianaError(
          errorOf(() => decodeCertificate(text)),
          "IDENTITY_CERT_INVALID",
        ),
      ).toBe(true);
  });
});

describe("public key line", () => {
  test("round trip, any order, surrounding spaces", () => {
    const line = formatPublicKeys(node.keys);
    expect(line).toMatch(/^ed25519:[A-Za-z0-9_-]{43};x25519:[A-Za-z0-9_-]{43}$/);
    const parsed = parsePublicKeys(`  ${line.split(";").reverse().join(";")}\n`);
    expect(parsed.fingerprint).toBe(node.fp);
    expect(Buffer.from(parsed.signingKey).equals(Buffer.from(node.keys.signingPublicKey))).toBe(true);
    expect(Buffer.from(parsed.agreementKey).equals(Buffer.from(node.keys.agreementPublicKey))).toBe(true);
  });

  test("clear errors for what operators paste wrong", () => {
    const [ed, x] = formatPublicKeys(node.keys).split(";") as [string, string];
    const zero = Buffer.alloc(32).toString("base64url");
    const cases: [string, string][] = [
      [ed, "x25519 key is missing"],
      [x, "ed25519 key is missing"],
      [`${ed};${ed};${x}`, "given twice"],
      [`rsa:abc;${x}`, 'unknown key kind "rsa"'],
      [`${ed}${x}`, "not base64url"],
      [`ed25519:AAAA;${x}`, "must be 32 bytes, got 3"],
      [`${ed};x25519:${zero}`, "not a usable agreement key"],
      ["hello", 'no "kind:" prefix'],
    ];
    for (const [text, message] of cases) {
      const err = errorOf(() => parsePublicKeys(text));
      expect(isKianaError(err, "IDENTITY_PUBKEY_INVALID")).toBe(true);
      expect((err as Error).message).toContain(message);
    }
  });
});
