import { describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import { isKianaError } from "../errors.ts";
import { loadNodeKeys, verifySignature } from "./index.ts";

const dataDir = () => mkdtempSync(join(tmpdir(), "kiana-id-"));

describe("loadNodeKeys", () => {
  test("first start creates both keys as 0600 files in a 0700 dir; later starts load the same identity", () => {
    const dir = dataDir();
    const a = loadNodeKeys({ dataDir: dir });
    expect(statSync(join(dir, "keys")).mode & 0o777).toBe(0o700);
    for (const f of ["signing.pem", "agreement.pem"])
      expect(statSync(join(dir, "keys", f)).mode & 0o777).toBe(0o600);
    const b = loadNodeKeys({ dataDir: dir });
    expect(b.fingerprint).toBe(a.fingerprint);
    expect(a.fingerprint).toMatch(/^[0-9a-f]{32}$/);
    expect(Buffer.from(b.agreementPublicKey).equals(Buffer.from(a.agreementPublicKey))).toBe(true);
  });

  test("signatures verify with node:crypto and with an independent implementation", () => {
    const keys = loadNodeKeys({ dataDir: dataDir() });
    const msg = new TextEncoder().encode("kiana test message");
    const sig = keys.sign(msg);
    expect(verifySignature(keys.signingPublicKey, msg, sig)).toBe(true);
    expect(ed25519.verify(sig, msg, keys.signingPublicKey)).toBe(true);
    const tampered = Uint8Array.from(msg);
    tampered[0] = (tampered[0] ?? 0) ^ 1;
    expect(verifySignature(keys.signingPublicKey, tampered, sig)).toBe(false);
    expect(verifySignature(new Uint8Array(5), msg, sig)).toBe(false);
  });

  test("X25519 agreement matches the peer's side", () => {
    const keys = loadNodeKeys({ dataDir: dataDir() });
    const peerSecret = x25519.utils.randomSecretKey();
    const peerPublic = x25519.getPublicKey(peerSecret);
    const ours = keys.agree(peerPublic);
    const theirs = x25519.getSharedSecret(peerSecret, keys.agreementPublicKey);
    expect(Buffer.from(ours).equals(Buffer.from(theirs))).toBe(true);
  });

  test("a damaged key file is refused by name and not overwritten", () => {
    const dir = dataDir();
    loadNodeKeys({ dataDir: dir });
    const path = join(dir, "keys", "signing.pem");
    writeFileSync(path, "-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n");
    let caught: unknown;
    try {
      loadNodeKeys({ dataDir: dir });
    } catch (err) {
      caught = err;
    }
    expect(isKianaError(caught, "IDENTITY_KEY_INVALID")).toBe(true);
    expect((caught as Error).message).toContain(path);
    expect(readFileSync(path, "utf8")).toContain("garbage");
  });

  test("a key file readable by others is tightened to 0600", () => {
    const dir = dataDir();
    loadNodeKeys({ dataDir: dir });
    const path = join(dir, "keys", "agreement.pem");
    chmodSync(path, 0o644);
    loadNodeKeys({ dataDir: dir });
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });
});
