// A strict protobuf wire-format walker over a ByteReader: fields are visited in place and payloads
// the caller does not ask for are skipped by seeking, so gigabyte-sized tensors are never read.
import type { ByteReader } from "./byte-reader.ts";

export type WireType = 0 | 1 | 2 | 5;

export interface PbField {
  field: number;
  wire: WireType;
  /** Offset of the tag. */
  at: number;
  /** Varints and fixed-width values; 0 for length-delimited fields. */
  value: bigint;
  /** For length-delimited fields: the payload's start and end. */
  start: number;
  end: number;
}

export interface PbLimits {
  /** Total fields visited; bounds time on files made of millions of tiny fields. */
  maxFields: number;
  maxDepth: number;
}

export interface PbReader {
  readonly r: ByteReader;
  /** Visits the fields of the message in [start, end); a field's payload is skipped unless consumed. */
  fields(start: number, end: number, what: string, depth: number): AsyncGenerator<PbField>;
  string(f: PbField, what: string, maxBytes: number): Promise<string>;
  /** Varints of a repeated field, packed (wire 2) or not (wire 0). */
  varints(f: PbField, what: string): Promise<bigint[]>;
  expectWire(f: PbField, wire: WireType, what: string): void;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** int64 fields travel as two's complement in 64 bits. */
export function toInt64(v: bigint): bigint {
  return BigInt.asIntN(64, v);
}

export function createPbReader(r: ByteReader, limits: PbLimits): PbReader {
  let visited = 0;

  async function varint(what: string, end: number): Promise<bigint> {
    const at = r.position;
    let result = 0n;
    for (let i = 0; i < 10; i++) {
      if (r.position >= end) throw r.invalid(what, at, "varint runs past the end of its message");
      const b = await r.u8(what);
      if (i === 9 && b > 1) throw r.invalid(what, at, "varint overflows 64 bits");
      result |= BigInt(b & 0x7f) << BigInt(7 * i);
      if ((b & 0x80) === 0) return result;
    }
    throw r.invalid(what, at, "varint longer than 10 bytes");
  }

  const self: PbReader = {
    r,
    async *fields(start, end, what, depth) {
      if (depth > limits.maxDepth) throw r.invalid(what, start, `nested deeper than ${limits.maxDepth}`);
      r.seek(start);
      while (r.position < end) {
        if (++visited > limits.maxFields)
          throw r.invalid(what, r.position, `more than ${limits.maxFields} fields`);
        const at = r.position;
        const tag = await varint(`${what} tag`, end);
        const field = Number(tag >> 3n);
        const wire = Number(tag & 7n);
        if (field === 0 || tag >> 3n > 0x1fffffffn)
          throw r.invalid(what, at, `invalid field number ${tag >> 3n}`);
        const f: PbField = { field, wire: 0, at, value: 0n, start: 0, end: 0 };
        const fieldName = `${what} field ${field}`;
        if (wire === 0) f.value = await varint(fieldName, end);
        else if (wire === 1 || wire === 5) {
          const n = wire === 1 ? 8 : 4;
          if (r.position + n > end) throw r.invalid(fieldName, at, "fixed-width value runs past its message");
          f.value = wire === 1 ? BigInt(await r.u64(fieldName)) : BigInt(await r.u32(fieldName));
        } else if (wire === 2) {
          const len = await varint(`${fieldName} length`, end);
          if (len > BigInt(end - r.position)) {
            throw r.invalid(fieldName, at, `length ${len} runs past the end of its message at ${end}`);
          }
          f.start = r.position;
          f.end = r.position + Number(len);
        } else {
          throw r.invalid(fieldName, at, `unsupported wire type ${wire} (groups or garbage)`);
        }
        f.wire = wire as WireType;
        yield f;
        // Whatever the consumer did inside the payload, the next field starts after it.
        if (wire === 2) r.seek(f.end);
      }
      if (r.position !== end) throw r.invalid(what, r.position, "fields run past the end of the message");
    },
    async string(f, what, maxBytes) {
      self.expectWire(f, 2, what);
      const n = f.end - f.start;
      if (n > maxBytes) throw r.invalid(what, f.at, `${n} bytes exceed the limit of ${maxBytes}`);
      r.seek(f.start);
      const bytes = await r.bytes(n, what);
      try {
        return utf8.decode(bytes);
      } catch {
        throw r.invalid(what, f.at, "not valid UTF-8");
      }
    },
    async varints(f, what) {
      if (f.wire === 0) return [f.value];
      self.expectWire(f, 2, what);
      const out: bigint[] = [];
      r.seek(f.start);
      while (r.position < f.end) {
        if (++visited > limits.maxFields)
          throw r.invalid(what, r.position, `more than ${limits.maxFields} fields`);
        out.push(await varint(what, f.end));
      }
      return out;
    },
    expectWire(f, wire, what) {
      if (f.wire !== wire) throw r.invalid(what, f.at, `wire type ${f.wire} where ${wire} belongs`);
    },
  };
  return self;
}
