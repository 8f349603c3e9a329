// The update bytes: round trips, chunk-independent streaming, and refusal of everything malformed.
import { describe, expect, test } from "bun:test";
import { pseudoFloats } from "./test-keys.test-helper.ts";
import {
  BLOCK,
  encodeUpdate,
  HEADER_BYTES,
  readUpdate,
  type UpdateExpectation,
  type UpdateHeader,
  type UpdateSource,
} from "./update-codec.ts";

const P = BLOCK + 1234; // more than one block, and not a multiple of one
const expectation: UpdateExpectation = {
  round: 3,
  modelVersion: 2,
  params: P,
  encodings: ["float32", "int8"],
  maxExamples: 1000,
  maxBytes: HEADER_BYTES + 4 * (P + 1),
};
const header = (h: Partial<UpdateHeader> = {}): UpdateHeader => ({
  encoding: "float32",
  round: 3,
  modelVersion: 2,
  params: P,
  examples: 10,
  chunk: 0,
  evalCount: 0,
  evalCorrect: 0,
  ...h,
});

async function decode(source: UpdateSource, e = expectation) {
  const out = new Float32Array(P);
  const res = await readUpdate(source, e, (offset, block) => out.set(block, offset));
  return { res, out };
}

/** The same bytes as a stream of `size`-byte pieces. */
const streamOf = (bytes: Uint8Array, size: number): UpdateSource => ({
  byteLength: bytes.length,
  async *chunks() {
    for (let at = 0; at < bytes.length; at += size) yield bytes.slice(at, at + size);
  },
});

describe("update codec", () => {
  const values = pseudoFloats(P, 1, 0.01);

  test("float32 round trip is exact, whole or streamed in odd pieces", async () => {
    const bytes = encodeUpdate(header(), values);
    expect(bytes.length).toBe(HEADER_BYTES + 4 * P);
    const sources: UpdateSource[] = [bytes, streamOf(bytes, 7), streamOf(bytes, 65_537)];
    for (const src of sources) {
      const { res, out } = await decode(src);
      expect(res.ok).toBe(true);
      expect(Buffer.from(out.buffer).equals(Buffer.from(values.buffer))).toBe(true);
    }
  });

  test("int8 is about a quarter of the size and within half a scale step of the input", async () => {
    const bytes = encodeUpdate(header({ encoding: "int8", chunk: 256 }), values);
    expect(bytes.length).toBeLessThan((HEADER_BYTES + 4 * P) / 3.8);
    const { res, out } = await decode(streamOf(bytes, 1000));
    expect(res.ok).toBe(true);
    let worst = 0;
    for (let i = 0; i < P; i++) worst = Math.max(worst, Math.abs((out[i] ?? 0) - (values[i] ?? 0)));
    expect(worst).toBeLessThanOrEqual(0.01 / 127 / 2 + 1e-9);
  });

  const refusals: [string, () => Uint8Array, RegExp][] = [
    ["bad magic", () => Object.assign(encodeUpdate(header(), values), { 0: 0 }), /magic/],
    ["unknown format version", () => Object.assign(encodeUpdate(header(), values), { 4: 9 }), /format 9/],
    ["wrong round", () => encodeUpdate(header({ round: 4 }), values), /round 4/],
    ["stale model version", () => encodeUpdate(header({ modelVersion: 1 }), values), /model 1/],
    ["wrong shape", () => encodeUpdate(header({ params: P - 1 }), values.subarray(1)), /weights/],
    ["zero examples", () => encodeUpdate(header({ examples: 0 }), values), /example count/],
    ["too many examples", () => encodeUpdate(header({ examples: 5000 }), values), /example count/],
    ["truncated", () => encodeUpdate(header(), values).subarray(0, 1000), /bytes/],
    ["padded", () => new Uint8Array([...encodeUpdate(header(), values), 0, 0, 0, 0]), /bytes/],
    [
      "masked not accepted",
      () => encodeUpdate(header({ encoding: "masked", examples: 0 }), new Uint32Array(P + 1)),
      /masked/,
    ],
    [
      "NaN late in the update",
      () => encodeUpdate(header(), Object.assign(Float32Array.from(values), { [P - 3]: Number.NaN })),
      /weight \d+ is not a finite/,
    ],
    [
      "Infinity",
      () => encodeUpdate(header(), Object.assign(Float32Array.from(values), { 5: Infinity })),
      /finite/,
    ],
    [
      "negative int8 scale",
      () => {
        const b = encodeUpdate(header({ encoding: "int8", chunk: 256 }), values);
        new DataView(b.buffer).setFloat32(HEADER_BYTES, -1, true);
        return b;
      },
      /scale/,
    ],
  ];
  for (const [name, make, reason] of refusals) {
    test(`refuses: ${name}`, async () => {
      const bytes = make();
      const sources: UpdateSource[] = [bytes, streamOf(bytes, 333)];
      for (const src of sources) {
        const { res } = await decode(src);
        expect(res.ok).toBe(false);
        if (!res.ok) expect(res.reason).toMatch(reason);
      }
    });
  }

  test("refuses an oversized update before reading it", async () => {
    let read = false;
    const huge: UpdateSource = {
      byteLength: 1e9,
      async *chunks() {
        read = true;
        yield new Uint8Array(1);
      },
    };
    const { res } = await decode(huge);
    expect(res).toEqual({ ok: false, reason: expect.stringMatching(/exceeds the limit/) });
    expect(read).toBe(false);
  });

  test("refuses a stream that delivers more bytes than it announced", async () => {
    const bytes = encodeUpdate(header(), values);
    const liar: UpdateSource = {
      byteLength: bytes.length,
      async *chunks() {
        yield bytes;
        yield new Uint8Array(8);
      },
    };
    expect((await decode(liar)).res.ok).toBe(false);
  });
});
