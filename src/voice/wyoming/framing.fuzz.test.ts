// 100 000 random and mutated frames into the decoder that reads whatever a LAN peer sends: each must
// end as events or errors, never a throw, a hang or a buffer beyond the limits.
import { expect, test } from "bun:test";
import { createFrameDecoder, DEFAULT_FRAME_LIMITS, type Decoded, encodeEvent } from "./framing.ts";
import { sampleEvents, seeded } from "./wyoming.test-helper.ts";

const TOTAL = 100_000;
const utf8 = new TextEncoder();
const MAX_BUFFERED =
  DEFAULT_FRAME_LIMITS.maxHeaderBytes +
  DEFAULT_FRAME_LIMITS.maxDataBytes +
  DEFAULT_FRAME_LIMITS.maxPayloadBytes;
const HOSTILE_LENGTHS = [-1, 1.5, 2 ** 31, 2 ** 53, 1e12, 5 * 1024 * 1024, "7", null, true, [3]];

type Rand = () => number;
const int = (rand: Rand, n: number) => Math.floor(rand() * n);

const valid = sampleEvents().map((e) => {
  const bytes = encodeEvent(e);
  if (!(bytes instanceof Uint8Array)) throw new Error(bytes.message);
  return bytes;
});

function randomBytes(rand: Rand): Uint8Array {
  const out = new Uint8Array(1 + int(rand, 300));
  // Biased toward the bytes that matter to the grammar: braces, quotes, digits, newlines.
  const alphabet = utf8.encode('{}":,\n0123456789[]typedata_lengthpayload');
  for (let i = 0; i < out.length; i++)
    out[i] = rand() < 0.5 ? int(rand, 256) : (alphabet[int(rand, alphabet.length)] ?? 0);
  return out;
}

/** Rewrites the header of a valid frame with a wrong or hostile length, body unchanged. */
function wrongLength(rand: Rand, frame: Uint8Array): Uint8Array {
  const nl = frame.indexOf(10);
  const header = JSON.parse(new TextDecoder().decode(frame.subarray(0, nl))) as Record<string, unknown>;
  const field = rand() < 0.5 ? "data_length" : "payload_length";
  const current = typeof header[field] === "number" ? (header[field] as number) : 0;
  header[field] =
    rand() < 0.5 ? current + int(rand, 41) - 20 : HOSTILE_LENGTHS[int(rand, HOSTILE_LENGTHS.length)];
  return new Uint8Array(Buffer.concat([utf8.encode(`${JSON.stringify(header)}\n`), frame.subarray(nl + 1)]));
}

function mutate(rand: Rand, frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(frame);
  switch (int(rand, 5)) {
    case 0: // truncated
      return out.subarray(0, int(rand, out.length));
    case 1: // flipped bytes
      for (let n = 1 + int(rand, 5); n > 0; n--) {
        const at = int(rand, out.length);
        out[at] = (out[at] ?? 0) ^ (1 << int(rand, 8));
      }
      return out;
    case 2:
      return wrongLength(rand, frame);
    case 3: {
      // random bytes spliced in
      const at = int(rand, out.length);
      return new Uint8Array(Buffer.concat([out.subarray(0, at), randomBytes(rand), out.subarray(at)]));
    }
    default: // two frames, the second mutated again
      return new Uint8Array(Buffer.concat([out, mutate(rand, valid[int(rand, valid.length)] ?? out)]));
  }
}

test(`${TOTAL} random and mutated frames: each ends as events or errors, bounded, never thrown`, () => {
  const rand = seeded(20260411);
  const counts = { event: 0, error: 0, fatal: 0, inputs: 0 };
  const started = performance.now();
  for (let i = 0; i < TOTAL; i++) {
    const input =
      i % 4 === 0 ? randomBytes(rand) : mutate(rand, valid[int(rand, valid.length)] as Uint8Array);
    if (input.length === 0) continue;
    counts.inputs++;
    const decoder = createFrameDecoder();
    const results: Decoded[] = [];
    // Random chunking: the same bytes must decode the same however the socket splits them.
    for (let at = 0; at < input.length; ) {
      const size = 1 + int(rand, input.length);
      results.push(...decoder.push(input.subarray(at, at + size)));
      expect(decoder.buffered()).toBeLessThanOrEqual(MAX_BUFFERED);
      at += size;
    }
    results.push(...decoder.end());
    expect(results.length).toBeGreaterThan(0);
    for (const r of results) {
      if (r.kind === "event") {
        counts.event++;
        expect(typeof r.event.type).toBe("string");
        expect(typeof r.event.data).toBe("object");
      } else {
        counts.error++;
        if (r.error.fatal) counts.fatal++;
        expect(r.error.message.length).toBeGreaterThan(0);
      }
    }
  }
  const seconds = (performance.now() - started) / 1000;
  // Every branch was exercised, and the whole run stayed fast (no hang on a huge declared length).
  expect(counts.inputs).toBeGreaterThan(TOTAL * 0.95);
  expect(counts.event).toBeGreaterThan(10_000);
  expect(counts.error).toBeGreaterThan(10_000);
  expect(counts.fatal).toBeGreaterThan(1_000);
  expect(seconds).toBeLessThan(60);
}, 120_000);

test("one long stream with garbage lines between valid frames recovers every frame", () => {
  const rand = seeded(7);
  const decoder = createFrameDecoder();
  const parts: Uint8Array[] = [];
  let expected = 0;
  for (let i = 0; i < 2000; i++) {
    if (rand() < 0.3) {
      // Printable junk without a newline: always a bad header line, never a bad length.
      const junk = Array.from({ length: 1 + int(rand, 80) }, () => String.fromCharCode(32 + int(rand, 95)));
      parts.push(utf8.encode(`${junk.join("").replace(/_length/g, "")}\n`));
    } else {
      parts.push(valid[int(rand, valid.length)] as Uint8Array);
      expected++;
    }
  }
  const stream = Buffer.concat(parts);
  let events = 0;
  for (let at = 0; at < stream.length; ) {
    const size = 1 + int(rand, 4000);
    for (const r of decoder.push(stream.subarray(at, at + size))) {
      if (r.kind === "event") events++;
      else expect(r.error.fatal).toBe(false);
    }
    at += size;
  }
  // A junk line that happens to be a valid header (e.g. `{"type":"x"}`) adds an event, never removes one.
  expect(events).toBeGreaterThanOrEqual(expected);
  expect(decoder.failed).toBe(false);
});
