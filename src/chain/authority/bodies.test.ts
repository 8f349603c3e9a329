// The vote and checkpoint body codecs: every kind round-trips, every kind of bad body is refused
// with the field named, and mutated bytes never make a decoder throw.
import { describe, expect, test } from "bun:test";
import { seededRandom } from "../../identity/test-fleet.test-helper.ts";
import {
  type CheckpointBody,
  decodeCheckpoint,
  decodeVote,
  encodeCheckpoint,
  encodeVote,
  MAX_AUTHORITY_BODY_BYTES,
  type VoteBody,
  ZERO_ID,
} from "./bodies.ts";

const A = "0123456789abcdef0123456789abcdef";
const B = "fedcba9876543210fedcba9876543210";
const ID = "ab".repeat(32);
const bytes = (s: string) => new TextEncoder().encode(s);
const reasonOf = (d: { ok: boolean; reason?: string }) => (d.ok ? "ok" : d.reason);

describe("vote bodies", () => {
  const good: VoteBody[] = [
    { v: 1, kind: "add-validator", validator: A },
    { v: 1, kind: "remove-validator", validator: B },
    { v: 1, kind: "confirm", author: A, seq: 0 },
    { v: 1, kind: "dispute", author: B, seq: Number.MAX_SAFE_INTEGER },
  ];
  test.each(good)("$kind round-trips through its one canonical encoding", (body) => {
    expect(decodeVote(encodeVote(body))).toEqual({ ok: true, value: body });
  });

  const bad: [string, string][] = [
    ['{"v":2,"kind":"confirm","author":"A","seq":1}', "v: unsupported version"],
    ['{"kind":"confirm","author":"A","seq":1}', "v: missing"],
    ['{"v":1,"kind":"approve","validator":"A"}', "kind: not a vote kind"],
    ['{"v":1,"kind":"add-validator"}', "validator: missing"],
    ['{"v":1,"kind":"add-validator","validator":"A","seq":1}', "seq: unexpected key"],
    ['{"v":1,"kind":"add-validator","validator":"ABCDEF0123456789ABCDEF0123456789"}', "validator: not"],
    ['{"v":1,"kind":"add-validator","validator":"0123"}', "validator: not"],
    ['{"v":1,"kind":"confirm","author":"A","seq":-1}', "seq: not"],
    ['{"v":1,"kind":"confirm","author":"A","seq":1.5}', "seq: not"],
    ['{"v":1,"kind":"confirm","author":"A","seq":9007199254740992}', "seq: not"],
    ['{"v":1,"kind":"confirm","author":"A","seq":"1"}', "seq: not"],
    ['{"v":1,"kind":"confirm","author":42,"seq":1}', "author: not"],
    ['{"v":1,"kind":"confirm","seq":1}', "author: missing"],
    ['{"v":1, "kind":"confirm","author":"A","seq":1}', "not in canonical form"],
    ['{"kind":"confirm","v":1,"author":"A","seq":1}', "not in canonical form"],
    ['{"v":1,"kind":"confirm","author":"A","seq":1e0}', "not in canonical form"],
    ['{"v":1,"kind":"confirm","author":"A","author":"A","seq":1}', "not in canonical form"],
    ["[1]", "body: not a JSON object"],
    ["null", "body: not a JSON object"],
    ['{"v":1', "body: not JSON"],
    ["", "body: not JSON"],
  ];
  test.each(bad)("%s is refused naming the field", (json, reason) => {
    expect(reasonOf(decodeVote(bytes(json.replaceAll('"A"', `"${A}"`))))).toContain(reason);
  });

  test("bytes that are not UTF-8, too many bytes, or not bytes at all are refused", () => {
    expect(reasonOf(decodeVote(Uint8Array.of(0x7b, 0xff, 0x7d)))).toBe("body: not UTF-8");
    const big = bytes(
      `{"v":1,"kind":"add-validator","validator":"${A}"}${" ".repeat(MAX_AUTHORITY_BODY_BYTES)}`,
    );
    expect(reasonOf(decodeVote(big))).toContain("over 16384");
    expect(reasonOf(decodeVote("text" as never))).toBe("body: not bytes");
  });

  test("encoding a vote no peer would accept throws CHAIN_VOTE_INVALID", () => {
    expect(() => encodeVote({ v: 1, kind: "add-validator", validator: "me" })).toThrow(
      expect.objectContaining({ code: "CHAIN_VOTE_INVALID" }),
    );
    expect(() => encodeVote({ v: 1, kind: "confirm", author: A, seq: -2 })).toThrow("seq: not");
  });
});

describe("checkpoint bodies", () => {
  const heads = [
    { author: A, length: 3, root: "11".repeat(32) },
    { author: B, length: 1, root: "22".repeat(32) },
  ];
  const good: CheckpointBody[] = [
    { v: 1, kind: "propose", height: 1, prev: ZERO_ID, heads },
    { v: 1, kind: "propose", height: 7, prev: ID, heads: [] },
    { v: 1, kind: "endorse", checkpoint: ID, height: 7 },
  ];
  test.each(good)("$kind at height $height round-trips", (body) => {
    expect(decodeCheckpoint(encodeCheckpoint(body))).toEqual({ ok: true, value: body });
  });

  const propose = (patch: Record<string, unknown>) =>
    JSON.stringify({ v: 1, kind: "propose", height: 2, prev: ID, heads, ...patch });
  const head = (patch: Record<string, unknown>) => propose({ heads: [{ ...heads[0], ...patch }] });
  const bad: [string, string, string][] = [
    ["height 0", propose({ height: 0 }), "height: not"],
    ["fractional height", propose({ height: 2.5 }), "height: not"],
    [
      "zero prev above height 1",
      propose({ prev: ZERO_ID }),
      "prev: must be 64 zeros at height 1 and only there",
    ],
    [
      "non-zero prev at height 1",
      propose({ height: 1 }),
      "prev: must be 64 zeros at height 1 and only there",
    ],
    ["upper-case prev", propose({ prev: ID.toUpperCase() }), "prev: not 64 hex digits"],
    ["heads not an array", propose({ heads: {} }), "heads: not an array"],
    ["a head that is not an object", propose({ heads: [7] }), "heads[0]: not an object"],
    [
      "heads out of order",
      propose({ heads: [heads[1], heads[0]] }),
      "heads[1].author: not sorted or not unique",
    ],
    [
      "a repeated head",
      propose({ heads: [heads[0], heads[0]] }),
      "heads[1].author: not sorted or not unique",
    ],
    ["a head of length 0", head({ length: 0 }), "heads[0].length: not"],
    ["a short root", head({ root: "11" }), "heads[0].root: not 64 hex digits"],
    ["a head with a bad author", head({ author: "x" }), "heads[0].author: not a fingerprint"],
    ["a head with an extra key", head({ extra: 1 }), "heads[0].extra: unexpected key"],
    ["an extra key", propose({ signers: [] }), "signers: unexpected key"],
    ["no heads", JSON.stringify({ v: 1, kind: "propose", height: 2, prev: ID }), "heads: missing"],
    [
      "a short checkpoint id",
      JSON.stringify({ v: 1, kind: "endorse", checkpoint: "ab", height: 1 }),
      "checkpoint: not 64 hex digits",
    ],
    [
      "a negative endorse height",
      JSON.stringify({ v: 1, kind: "endorse", checkpoint: ID, height: -1 }),
      "height: not",
    ],
    [
      "an endorse without height",
      JSON.stringify({ v: 1, kind: "endorse", checkpoint: ID }),
      "height: missing",
    ],
    [
      "an unknown kind",
      JSON.stringify({ v: 1, kind: "finalise", checkpoint: ID }),
      "kind: not a checkpoint kind",
    ],
    ["a trailing newline", `${propose({})}\n`, "not in canonical form"],
  ];
  test.each(bad)("%s is refused naming the field", (_label, json, reason) => {
    expect(reasonOf(decodeCheckpoint(bytes(json)))).toContain(reason);
  });

  test("a proposal too large for a body is refused when encoding", () => {
    const many = Array.from({ length: 200 }, (_, i) => ({
      author: i.toString(16).padStart(32, "0"),
      length: 1,
      root: "33".repeat(32),
    }));
    expect(() => encodeCheckpoint({ v: 1, kind: "propose", height: 1, prev: ZERO_ID, heads: many })).toThrow(
      expect.objectContaining({ code: "CHAIN_CHECKPOINT_INVALID" }),
    );
  });
});

test("20 000 mutated bodies: each decoder refuses or accepts, never throws", () => {
  const rand = seededRandom(8);
  const seeds = [
    encodeVote({ v: 1, kind: "confirm", author: A, seq: 12 }),
    encodeCheckpoint({
      v: 1,
      kind: "propose",
      height: 3,
      prev: ID,
      heads: [{ author: A, length: 2, root: ID }],
    }),
  ];
  let accepted = 0;
  for (let i = 0; i < 20_000; i++) {
    const seed = seeds[i % 2] as Uint8Array;
    const out = Uint8Array.from(seed);
    const [at = 0, value = 0] = rand(2);
    out[at % out.length] = i % 3 === 0 ? value : (out[at % out.length] ?? 0) ^ (1 << (value % 8));
    const vote = decodeVote(out);
    const checkpoint = decodeCheckpoint(out);
    if (vote.ok || checkpoint.ok) accepted++;
    expect(vote.ok || typeof vote.reason === "string").toBe(true);
  }
  // Flipping a hex digit to another hex digit still decodes; most other flips must not.
  expect(accepted).toBeGreaterThan(0);
  expect(accepted).toBeLessThan(20_000);
});
