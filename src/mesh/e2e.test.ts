import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { isKianaError } from "../errors.ts";
import type { Certificate } from "../identity/enrolment.ts";
import { enrolNode, seededRandom, T0, testFleet } from "../identity/test-fleet.test-helper.ts";
import { createMemoryBus } from "./adapters/memory.ts";
import { DIRECT_TYPE, openDirect, sealDirect } from "./e2e.ts";
import { type OpenResult, openEnvelope, sealEnvelope } from "./envelope.ts";
import { createMemoryReplayGuard } from "./replay-guard.ts";
import { fleetPattern, nodeTopic } from "./topics.ts";

const fleet = testFleet("home");
const [alice, bob, eve] = ["alice", "bob", "eve"].map((n) => enrolNode(fleet, n)) as [
  ReturnType<typeof enrolNode>,
  ReturnType<typeof enrolNode>,
  ReturnType<typeof enrolNode>,
];
const SECRET = "the door code is 4711-secret";
const plaintext = new TextEncoder().encode(SECRET);
const random = (n: number) => new Uint8Array(randomBytes(n));
const contains = (hay: Uint8Array, needle: Uint8Array) => Buffer.from(hay).indexOf(Buffer.from(needle)) >= 0;

const toBob = (text: Uint8Array = plaintext, rnd: (n: number) => Uint8Array = random) =>
  sealDirect({
    senderKeys: alice.keys,
    recipientAgreementKey: bob.cert.agreementKey,
    senderFp: alice.fp,
    recipientFp: bob.fp,
    plaintext: text,
    random: rnd,
  });
const asBob = (sealed: Uint8Array, over: Partial<Parameters<typeof openDirect>[0]> = {}) =>
  openDirect({
    recipientKeys: bob.keys,
    senderAgreementKey: alice.cert.agreementKey,
    senderFp: alice.fp,
    recipientFp: bob.fp,
    sealed,
    ...over,
  });
const reasonOf = (r: ReturnType<typeof openDirect>) => (r.ok ? "ok" : r.reason);

describe("direct messages", () => {
  test("round trip; the ciphertext holds no piece of the plaintext; nonces are fresh", () => {
    const sealed = toBob();
    const r = asBob(sealed);
    expect(r.ok && new TextDecoder().decode(r.plaintext)).toBe(SECRET);
    for (let i = 0; i + 6 <= plaintext.length; i++)
      expect(contains(sealed, plaintext.subarray(i, i + 6))).toBe(false);
    expect(Buffer.from(toBob()).equals(Buffer.from(sealed))).toBe(false);
  });

  test("nobody else can read it, not even with the right address on it", () => {
    const sealed = toBob();
    const asEve = (over: Partial<Parameters<typeof openDirect>[0]>) =>
      reasonOf(asBob(sealed, { recipientKeys: eve.keys, ...over }));
    expect(asEve({ recipientFp: eve.fp })).toBe("not-for-me");
    expect(asEve({})).toBe("undecryptable"); // eve claims to be bob
    // Bob, told the wrong sender, fails too: the key and AAD bind the sender.
    expect(reasonOf(asBob(sealed, { senderFp: eve.fp, senderAgreementKey: eve.cert.agreementKey }))).toBe(
      "undecryptable",
    );
    expect(reasonOf(asBob(sealed, { senderFp: eve.fp }))).toBe("undecryptable");
  });

  test("each direction has its own key", () => {
    const fixed = () => seededRandom(5);
    const ab = toBob(plaintext, fixed());
    const ba = sealDirect({
      senderKeys: bob.keys,
      recipientAgreementKey: alice.cert.agreementKey,
      senderFp: bob.fp,
      recipientFp: alice.fp,
      plaintext,
      random: fixed(),
    });
    expect(Buffer.from(ab.subarray(41)).equals(Buffer.from(ba.subarray(41)))).toBe(false);
  });

  test("any flipped byte or truncation is refused without a throw", () => {
    const sealed = toBob();
    for (let i = 0; i < sealed.length; i++) {
      const bad = Uint8Array.from(sealed);
      bad[i] = (bad[i] ?? 0) ^ 0x80;
      expect(asBob(bad).ok).toBe(false);
    }
    for (let len = 0; len < sealed.length; len++) expect(asBob(sealed.subarray(0, len)).ok).toBe(false);
    expect(reasonOf(asBob(sealed, { senderAgreementKey: new Uint8Array(32) }))).toBe("undecryptable");
  });

  test("sealing to an unusable key or with bad fingerprints throws a coded error", () => {
    for (const over of [{ recipientAgreementKey: new Uint8Array(32) }, { recipientFp: "bob" }]) {
      let err: unknown;
      try {
        sealDirect({
          senderKeys: alice.keys,
          recipientAgreementKey: bob.cert.agreementKey,
          senderFp: alice.fp,
          recipientFp: bob.fp,
          plaintext,
          random,
          ...over,
        });
      } catch (e) {
        err = e;
      }
      expect(isKianaError(err, "MESH_DIRECT_INVALID")).toBe(true);
    }
  });
});

describe("two nodes over the memory bus", () => {
  test("a signed message and an encrypted direct message arrive; the plaintext never crosses the bus", async () => {
    const bus = createMemoryBus();
    const [a, b] = [bus.connect(), bus.connect()];
    const roster = new Map<string, Certificate>(
      [alice, bob].map((n) => [n.fp, n.cert] as [string, Certificate]),
    );
    const now = T0 + 1000;
    const replay = createMemoryReplayGuard();
    const received: OpenResult[] = [];
    let done = () => {};
    const got = new Promise<void>((resolve) => {
      done = resolve;
    });
    await b.subscribe(fleetPattern("home", "bob", "#"), (_topic, payload) => {
      const opts = { roster: (fp: string) => roster.get(fp), fleetPublicKey: fleet.publicKey, now, replay };
      received.push(openEnvelope(payload, opts));
      if (received.length === 2) done();
    });

    const hello = new TextEncoder().encode("hello bob");
    await a.publish(
      nodeTopic("home", "bob", "chat"),
      sealEnvelope({ keys: alice.keys, seq: 1, now, type: "chat", body: hello }),
    );
    await a.publish(
      nodeTopic("home", "bob", "direct"),
      sealEnvelope({ keys: alice.keys, seq: 2, now, type: DIRECT_TYPE, body: toBob() }),
    );
    await got;

    const [first, second] = received;
    if (!first?.ok || !second?.ok) throw new Error("bob refused a message");
    expect(new TextDecoder().decode(first.envelope.body)).toBe("hello bob");
    expect(second.envelope.type).toBe(DIRECT_TYPE);
    const opened = openDirect({
      recipientKeys: bob.keys,
      senderAgreementKey: second.sender.agreementKey,
      senderFp: second.envelope.from,
      recipientFp: bob.fp,
      sealed: second.envelope.body,
    });
    expect(opened.ok && new TextDecoder().decode(opened.plaintext)).toBe(SECRET);

    expect(bus.log).toHaveLength(2);
    expect(bus.log.some((m) => contains(m.payload, hello))).toBe(true); // signed, not secret
    for (const m of bus.log) expect(contains(m.payload, plaintext)).toBe(false);
    for (const m of bus.log) expect(Buffer.from(m.payload).toString("latin1")).not.toContain("door code");
    await a.close();
    await b.close();
  });
});
