import { describe, expect, test } from "bun:test";
import { isKianaError } from "../errors.ts";
import { verifySignature } from "./node-keys.ts";
import {
  certificateBytes,
  DOMAIN,
  directAad,
  directKeyInfo,
  encodeSigned,
  envelopeBytes,
  type SignedField,
} from "./signed-bytes.ts";
import { enrolNode, testFleet } from "./test-fleet.test-helper.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const enc = (fields: SignedField[]) => hex(encodeSigned(DOMAIN.envelope, fields));

describe("signed bytes", () => {
  test("the layout is pinned: tag, count, then kind + length + data per field", () => {
    const out = encodeSigned(DOMAIN.envelope, ["a", 1, Uint8Array.of(9)]);
    const tag = Buffer.from("kiana/v1/envelope").toString("hex");
    expect(hex(out)).toBe(
      [
        `00000011${tag}00000003`, // tag length, tag, field count
        "020000000161", // string "a"
        "03000000080000000000000001", // uint 1
        "010000000109", // bytes [9]
      ].join(""),
    );
  });

  test("different field lists never encode the same", () => {
    expect(enc(["ab", "c"])).not.toBe(enc(["a", "bc"]));
    expect(enc(["a"])).not.toBe(enc([Uint8Array.of(0x61)]));
    expect(enc([1])).not.toBe(enc([Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 1)]));
    expect(enc(["a", ""])).not.toBe(enc(["a"]));
    expect(enc([])).not.toBe(hex(encodeSigned(DOMAIN.fleetCertificate, [])));
  });

  test("domain tags are versioned, labelled and distinct", () => {
    const tags = Object.values(DOMAIN);
    expect(new Set(tags).size).toBe(tags.length);
    for (const t of tags) expect(t).toMatch(/^kiana\/v\d+\/[a-z-]+$/);
  });

  test("only unsigned safe integers, strings and bytes are accepted", () => {
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 53]) {
      let err: unknown;
      try {
        encodeSigned(DOMAIN.envelope, [bad]);
      } catch (e) {
        err = e;
      }
      expect(isKianaError(err, "IDENTITY_ENCODING_INVALID")).toBe(true);
    }
  });

  test("a signature made for one kind does not verify as another", () => {
    const fleet = testFleet();
    const node = enrolNode(fleet, "kitchen");
    const header = { v: 1 as const, from: node.fp, seq: 1, ts: 5, type: "chat" };
    const body = new Uint8Array(3);
    const sig = node.keys.sign(envelopeBytes(header, body));
    expect(verifySignature(node.keys.signingPublicKey, envelopeBytes(header, body), sig)).toBe(true);
    // The same values under another tag are other bytes.
    const asOther = encodeSigned(DOMAIN.fleetCertificate, [1, node.fp, 1, 5, "chat", body]);
    expect(verifySignature(node.keys.signingPublicKey, asOther, sig)).toBe(false);
    expect(hex(certificateBytes(node.cert))).not.toBe(hex(envelopeBytes(header, body)));
  });

  test("direct key info depends on direction; AAD on both parties", () => {
    const a = { fp: "a".repeat(32), key: new Uint8Array(32).fill(1) };
    const b = { fp: "b".repeat(32), key: new Uint8Array(32).fill(2) };
    const ab = directKeyInfo({
      senderFp: a.fp,
      recipientFp: b.fp,
      senderAgreementKey: a.key,
      recipientAgreementKey: b.key,
    });
    const ba = directKeyInfo({
      senderFp: b.fp,
      recipientFp: a.fp,
      senderAgreementKey: b.key,
      recipientAgreementKey: a.key,
    });
    expect(hex(ab)).not.toBe(hex(ba));
    expect(hex(directAad(1, a.fp, b.fp))).not.toBe(hex(directAad(1, b.fp, a.fp)));
  });
});
