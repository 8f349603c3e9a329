import { describe, expect, test } from "bun:test";
import { seededRandom } from "../identity/test-fleet.test-helper.ts";
import {
  type Block,
  blockProblem,
  decodeBlock,
  encodeBlock,
  equalBytes,
  leafHash,
  MAX_BODY_BYTES,
  ZERO_HASH,
} from "./block.ts";

const author = "0123456789abcdef0123456789abcdef";
const sample = (over: Partial<Block> = {}): Block => ({
  author,
  seq: 7,
  prev: new Uint8Array(32).fill(9),
  ts: 1_700_000_000_123,
  type: "knowledge",
  body: new TextEncoder().encode("the kettle is in the second cupboard"),
  ...over,
});

describe("block encoding", () => {
  test("a block round-trips to equal fields and the same leaf hash", () => {
    for (const block of [sample(), sample({ seq: 0, prev: ZERO_HASH, body: new Uint8Array(0) })]) {
      const decoded = decodeBlock(encodeBlock(block));
      if (!decoded.ok) throw new Error(decoded.reason);
      expect(decoded.value).toEqual(block);
      expect(equalBytes(leafHash(decoded.value), leafHash(block))).toBe(true);
    }
  });

  test("every field changes the leaf hash", () => {
    const base = leafHash(sample());
    const variants: Partial<Block>[] = [
      { author: "f123456789abcdef0123456789abcdef" },
      { seq: 8 },
      { prev: new Uint8Array(32).fill(8) },
      { ts: 1_700_000_000_124 },
      { type: "vote" },
      { body: new TextEncoder().encode("the kettle is in the first cupboard") },
    ];
    for (const v of variants) expect(equalBytes(leafHash(sample(v)), base)).toBe(false);
  });

  test("malformed blocks are named", () => {
    expect(blockProblem(sample())).toBeUndefined();
    expect(blockProblem(sample({ author: "ABC" }))).toContain("author");
    expect(blockProblem(sample({ seq: -1 }))).toContain("seq");
    expect(blockProblem(sample({ seq: 0 }))).toContain("zero prev");
    expect(blockProblem(sample({ prev: new Uint8Array(31) }))).toContain("prev");
    expect(blockProblem(sample({ ts: 1.5 }))).toContain("ts");
    expect(blockProblem(sample({ type: "Knowledge" }))).toContain("type");
    expect(blockProblem(sample({ type: "x".repeat(33) }))).toContain("type");
    expect(blockProblem(sample({ body: new Uint8Array(MAX_BODY_BYTES + 1) }))).toContain("body");
    expect(blockProblem(sample({ body: new Uint8Array(MAX_BODY_BYTES) }))).toBeUndefined();
  });

  test("every truncation and extension is refused with a reason", () => {
    const bytes = encodeBlock(sample());
    for (let n = 0; n < bytes.length; n++) {
      const r = decodeBlock(bytes.subarray(0, n));
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason.length).toBeGreaterThan(0);
    }
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    expect(decodeBlock(longer).ok).toBe(false);
  });

  test("10 000 random mutations are refused or decode to a different block, never throw", () => {
    const random = seededRandom(42);
    const original = encodeBlock(sample());
    const originalHash = leafHash(sample());
    let refused = 0;
    for (let i = 0; i < 10_000; i++) {
      const bytes = new Uint8Array(original);
      const [count = 1, ...rest] = random(9);
      for (let j = 0; j < (count % 4) + 1; j++) {
        const at = ((rest[2 * j] ?? 0) * 256 + (rest[2 * j + 1] ?? 0)) % bytes.length;
        const old = bytes[at] ?? 0;
        bytes[at] = old ^ ((random(1)[0] ?? 0) | 1);
      }
      // Two flips of one byte can cancel out; that is no mutation.
      if (equalBytes(bytes, original)) continue;
      const r = decodeBlock(bytes);
      if (!r.ok) refused++;
      else expect(equalBytes(leafHash(r.value), originalHash)).toBe(false);
    }
    expect(refused).toBeGreaterThan(0);
  });

  test("hostile non-block input is refused", () => {
    expect(decodeBlock(new Uint8Array(0)).ok).toBe(false);
    expect(decodeBlock("not bytes" as never).ok).toBe(false);
    const huge = encodeBlock(sample());
    new DataView(huge.buffer).setUint32(huge.length - sample().body.length - 4, 0xffffffff);
    expect(decodeBlock(huge)).toEqual({ ok: false, reason: "body over the size cap" });
  });
});
