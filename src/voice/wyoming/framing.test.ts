import { describe, expect, test } from "bun:test";
import { parseEvent } from "./events.ts";
import {
  createFrameDecoder,
  DEFAULT_FRAME_LIMITS,
  type Decoded,
  encodeEvent,
  WYOMING_VERSION,
  type WyomingEvent,
} from "./framing.ts";
import { pcm16, sampleEvents } from "./wyoming.test-helper.ts";

const utf8 = new TextEncoder();
const text = (s: string) => utf8.encode(s);

function encode(event: WyomingEvent): Uint8Array {
  const bytes = encodeEvent(event);
  if (!(bytes instanceof Uint8Array)) throw new Error(bytes.message);
  return bytes;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

const events = (results: Decoded[]) => results.flatMap((r) => (r.kind === "event" ? [r.event] : []));
const errors = (results: Decoded[]) => results.flatMap((r) => (r.kind === "error" ? [r.error] : []));

describe("round trips", () => {
  const samples = sampleEvents();

  test("every event type survives encode → decode and parses as its typed view", () => {
    expect(samples.length).toBe(28);
    for (const sample of samples) {
      const decoded = createFrameDecoder().push(encode(sample));
      expect(decoded).toEqual([{ kind: "event", event: sample }]);
      expect(parseEvent(sample).kind).toBe("known");
    }
  });

  test("all events back to back in one buffer, then one byte at a time", () => {
    const stream = concat(...samples.map(encode));
    expect(events(createFrameDecoder().push(stream))).toEqual(samples);
    const decoder = createFrameDecoder();
    const out: Decoded[] = [];
    for (let i = 0; i < stream.length; i++) out.push(...decoder.push(stream.subarray(i, i + 1)));
    expect(events(out)).toEqual(samples);
    expect(decoder.buffered()).toBe(0);
  });

  test("a 64 KiB payload split into 1000 uneven chunks arrives byte-exact", () => {
    const pcm = pcm16(32 * 1024);
    const frame = encode({ type: "audio-chunk", data: { rate: 16000, width: 2, channels: 1 }, payload: pcm });
    const decoder = createFrameDecoder();
    const out: Decoded[] = [];
    for (let at = 0, i = 0; at < frame.length; i++) {
      const size = 1 + ((i * 37) % 131);
      out.push(...decoder.push(frame.subarray(at, at + size)));
      at += size;
    }
    expect(out).toHaveLength(1);
    expect(Buffer.from(events(out)[0]?.payload ?? []).equals(Buffer.from(pcm))).toBe(true);
  });

  test("the encoder writes what the Python reference writes: data in its own section", () => {
    const frame = encode({ type: "transcript", data: { text: "hi" }, payload: text("xy") });
    const nl = frame.indexOf(10);
    expect(JSON.parse(new TextDecoder().decode(frame.subarray(0, nl)))).toEqual({
      type: "transcript",
      version: WYOMING_VERSION,
      data_length: 13,
      payload_length: 2,
    });
    expect(new TextDecoder().decode(frame.subarray(nl + 1))).toBe('{"text":"hi"}xy');
    // No data and no payload: no lengths at all.
    expect(new TextDecoder().decode(encode({ type: "played", data: {} }))).toBe(
      `{"type":"played","version":"${WYOMING_VERSION}"}\n`,
    );
  });

  test("data inline in the header is read, and the data section is merged over it", () => {
    const extra = text('{"text":"from section","language":"en"}');
    const header = `{"type":"transcript","data":{"text":"inline","context":{"a":1}},"data_length":${extra.length}}\n`;
    const [result] = createFrameDecoder().push(concat(text(header), extra));
    expect(result).toEqual({
      kind: "event",
      event: { type: "transcript", data: { text: "from section", context: { a: 1 }, language: "en" } },
    });
    const inlineOnly = createFrameDecoder().push(text('{"type":"ping","data":{"text":"x"}}\n'));
    expect(events(inlineOnly)).toEqual([{ type: "ping", data: { text: "x" } }]);
  });

  test("unknown fields, header keys and event types pass through untouched", () => {
    const line =
      '{"type":"future-event","version":"9.0.0","data":{"x":[1,2]},"flags":7,"payload_length":3}\nabc';
    const [result] = createFrameDecoder().push(text(line));
    expect(result).toEqual({
      kind: "event",
      event: { type: "future-event", data: { x: [1, 2] }, payload: text("abc") },
    });
    const known = events(
      createFrameDecoder().push(text('{"type":"transcript","data":{"text":"a","mood":"ok"}}\n')),
    );
    expect(known[0]?.data).toEqual({ text: "a", mood: "ok" });
  });

  test("a '__proto__' key in data stays a plain field", () => {
    const [result] = events(
      createFrameDecoder().push(text('{"type":"x","data":{"__proto__":{"polluted":1}}}\n')),
    );
    expect(Object.getPrototypeOf(result?.data)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe("malformed input", () => {
  test("a bad header line is reported and the next frame still decodes (resync at the newline)", () => {
    const good = encode({ type: "ping", data: { text: "after" } });
    const stream = concat(text("not json at all\n[1,2]\n\n"), text('{"type":""}\n{"data":{}}\n'), good);
    const out = createFrameDecoder().push(stream);
    expect(errors(out).map((e) => [e.field, e.fatal])).toEqual([
      ["header", false],
      ["header", false],
      ["header", false],
      ["type", false],
      ["type", false],
    ]);
    expect(events(out)).toEqual([{ type: "ping", data: { text: "after" } }]);
  });

  test("a bad data section is consumed by its length, so the stream stays in sync", () => {
    const stream = concat(
      text('{"type":"transcript","data_length":5,"payload_length":2}\n{oops'),
      text("zz"),
      encode({ type: "played", data: {} }),
    );
    const out = createFrameDecoder().push(stream);
    expect(errors(out)).toEqual([
      { field: "data", message: "data section is not a UTF-8 JSON object", fatal: false },
    ]);
    expect(events(out)).toEqual([{ type: "played", data: {} }]);
  });

  test.each([
    ['{"type":"a","data_length":1048577}', "data_length", "exceeds the limit"],
    ['{"type":"a","payload_length":4194305}', "payload_length", "exceeds the limit"],
    ['{"type":"a","payload_length":1e300}', "payload_length", "non-negative integer"],
    ['{"type":"a","data_length":-1}', "data_length", "non-negative integer"],
    ['{"type":"a","data_length":1.5}', "data_length", "non-negative integer"],
    ['{"type":"a","payload_length":"12"}', "payload_length", "non-negative integer"],
  ])("%s is fatal and names the field", (header, field, words) => {
    const decoder = createFrameDecoder();
    const out = decoder.push(text(`${header}\n${"x".repeat(100)}`));
    expect(out).toHaveLength(1);
    expect(errors(out)[0]).toMatchObject({ field, fatal: true });
    expect(errors(out)[0]?.message).toContain(field);
    expect(errors(out)[0]?.message).toContain(words);
    expect(decoder.failed).toBe(true);
    // Nothing after a fatal error is decoded or buffered.
    expect(decoder.push(encode({ type: "played", data: {} }))).toEqual([]);
    expect(decoder.buffered()).toBe(0);
  });

  test("a header line without a newline is refused at the limit, not buffered forever", () => {
    const decoder = createFrameDecoder();
    const chunk = text("{".repeat(4096));
    let out: Decoded[] = [];
    for (let i = 0; i < 16 && out.length === 0; i++) out = decoder.push(chunk);
    expect(decoder.buffered()).toBeLessThanOrEqual(DEFAULT_FRAME_LIMITS.maxHeaderBytes);
    expect(out).toHaveLength(0);
    out = decoder.push(chunk);
    expect(errors(out)[0]).toMatchObject({ field: "header", fatal: true });
  });

  test("a stream cut mid-frame is a truncation error at the end; a clean end is not", () => {
    const frame = encode({
      type: "audio-chunk",
      data: { rate: 16000, width: 2, channels: 1 },
      payload: pcm16(10),
    });
    const cut = createFrameDecoder();
    expect(cut.push(frame.subarray(0, frame.length - 3))).toEqual([]);
    expect(errors(cut.end())).toEqual([
      { field: "payload", message: "stream ended in the middle of a frame", fatal: true },
    ]);
    const clean = createFrameDecoder();
    clean.push(frame);
    expect(clean.end()).toEqual([]);
  });

  test("the encoder refuses what a peer's decoder would refuse", () => {
    expect(
      encodeEvent({ type: "audio-chunk", data: {}, payload: new Uint8Array(4 * 1024 * 1024 + 1) }),
    ).toMatchObject({
      field: "payload_length",
    });
    expect(encodeEvent({ type: "", data: {} })).toMatchObject({ field: "type" });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(encodeEvent({ type: "x", data: cyclic })).toMatchObject({ field: "data" });
    expect(encodeEvent({ type: "x", data: [1] as unknown as Record<string, unknown> })).toMatchObject({
      field: "data",
    });
  });
});
