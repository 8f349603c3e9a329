// GGUF metadata values: typed key/value pairs, read with caps so that a hostile length cannot make
// the reader allocate or keep more than the limits allow. Big arrays (the vocabulary) are skipped.
import type { ByteReader } from "./byte-reader.ts";

export interface GgufLimits {
  /** The spec caps keys at 65535 bytes. */
  maxKeyBytes: number;
  /** Longer strings are refused outright. Chat templates run to tens of KiB. */
  maxStringBytes: number;
  /** Longer arrays are refused; vocabularies and merge lists stay well below. */
  maxArrayLength: number;
  maxKv: number;
  maxTensors: number;
  maxBlocks: number;
  /** Arrays up to this length are returned; longer ones only as a summary. */
  keepArrayLength: number;
  /** Strings up to this length are returned; longer ones only as a summary. */
  keepStringBytes: number;
  /** Once this many bytes of values are held, further ones are summarized. */
  keepTotalBytes: number;
}

export const GGUF_LIMITS: Readonly<GgufLimits> = Object.freeze({
  maxKeyBytes: 65535,
  maxStringBytes: 16 << 20,
  maxArrayLength: 1 << 24,
  maxKv: 1 << 20,
  maxTensors: 1 << 20,
  maxBlocks: 1 << 16,
  keepArrayLength: 4096,
  keepStringBytes: 1 << 20,
  keepTotalBytes: 16 << 20,
});

/** Stands in for a value too long to keep: its type and its length (elements, or bytes of a string). */
export interface GgufSummary {
  summary: true;
  type: string;
  length: number;
}

export type GgufScalar = number | bigint | boolean | string;
export type GgufValue = GgufScalar | GgufScalar[] | GgufSummary;

// Index = gguf_type id; size in bytes, 0 for the variable-length string and array.
const VALUE_TYPES: [name: string, size: number][] = [
  ["uint8", 1],
  ["int8", 1],
  ["uint16", 2],
  ["int16", 2],
  ["uint32", 4],
  ["int32", 4],
  ["float32", 4],
  ["bool", 1],
  ["string", 0],
  ["array", 0],
  ["uint64", 8],
  ["int64", 8],
  ["float64", 8],
];
const STRING = 8;
const ARRAY = 9;

export interface GgufKv {
  key: string;
  type: string;
  value: GgufValue;
  /** Element count when the value is an array, kept or not. */
  arrayLength: number | null;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

async function readLength(r: ByteReader, field: string, max: number): Promise<number> {
  const at = r.position;
  const n = await r.u64(field);
  if (typeof n === "bigint" || n > max) throw r.invalid(field, at, `length ${n} exceeds the limit of ${max}`);
  if (n > r.size - r.position)
    throw r.invalid(field, at, `length ${n} runs past the end of the file (truncated?)`);
  return n;
}

async function readText(r: ByteReader, field: string, n: number): Promise<string> {
  const at = r.position;
  const bytes = await r.bytes(n, field);
  try {
    return utf8.decode(bytes);
  } catch {
    throw r.invalid(field, at, "not valid UTF-8");
  }
}

async function readScalar(r: ByteReader, type: number, field: string): Promise<number | bigint | boolean> {
  switch (type) {
    case 0:
      return r.u8(field);
    case 1:
      return ((await r.u8(field)) << 24) >> 24;
    case 2:
      return r.u16(field);
    case 3:
      return r.i16(field);
    case 4:
      return r.u32(field);
    case 5:
      return r.i32(field);
    case 6:
      return r.f32(field);
    case 7: {
      const at = r.position;
      const b = await r.u8(field);
      if (b > 1) throw r.invalid(field, at, `bool byte is ${b}, not 0 or 1`);
      return b === 1;
    }
    case 10:
      return r.u64(field);
    case 11:
      return r.i64(field);
    default:
      return r.f64(field);
  }
}

async function readValueType(r: ByteReader, field: string): Promise<number> {
  const at = r.position;
  const type = await r.u32(field);
  if (type >= VALUE_TYPES.length) throw r.invalid(field, at, `unknown value type ${type}`);
  return type;
}

/** Reads one key/value pair; `budget.keptBytes` counts what the caller holds across calls. */
export async function readKv(
  r: ByteReader,
  limits: GgufLimits,
  budget: { keptBytes: number },
): Promise<GgufKv> {
  const keyLen = await readLength(r, "metadata key length", limits.maxKeyBytes);
  if (keyLen === 0) throw r.invalid("metadata key length", r.position - 8, "empty key");
  const key = await readText(r, "metadata key", keyLen);
  const field = `metadata ${key}`;
  const type = await readValueType(r, `${field} type`);
  const typeName = VALUE_TYPES[type]?.[0] ?? "";
  const keep = (bytes: number) => {
    if (budget.keptBytes + bytes > limits.keepTotalBytes) return false;
    budget.keptBytes += bytes;
    return true;
  };

  if (type === STRING) {
    const n = await readLength(r, field, limits.maxStringBytes);
    if (n <= limits.keepStringBytes && keep(n)) {
      return { key, type: typeName, value: await readText(r, field, n), arrayLength: null };
    }
    r.skip(n, field);
    return { key, type: typeName, value: { summary: true, type: "string", length: n }, arrayLength: null };
  }
  if (type !== ARRAY) {
    keep(8);
    return { key, type: typeName, value: await readScalar(r, type, field), arrayLength: null };
  }

  const elemType = await readValueType(r, `${field} element type`);
  if (elemType === ARRAY) throw r.invalid(`${field} element type`, r.position - 4, "nested arrays");
  const [elemName, elemSize] = VALUE_TYPES[elemType] ?? ["", 0];
  const lenAt = r.position;
  const length = await readLength(r, `${field} length`, limits.maxArrayLength);
  // Each string element has at least its 8-byte length, so this also bounds string arrays.
  if (length * Math.max(elemSize, 8 * Number(elemType === STRING)) > r.size - r.position) {
    throw r.invalid(
      `${field} length`,
      lenAt,
      `${length} elements cannot fit in the rest of the file (truncated?)`,
    );
  }
  const summary: GgufSummary = { summary: true, type: `array[${elemName}]`, length };
  const arrayType = `array[${elemName}]`;
  if (elemType !== STRING) {
    if (length <= limits.keepArrayLength && keep(length * 8)) {
      const values: GgufScalar[] = [];
      for (let i = 0; i < length; i++) values.push(await readScalar(r, elemType, field));
      return { key, type: arrayType, value: values, arrayLength: length };
    }
    r.skip(length * elemSize, field);
    return { key, type: arrayType, value: summary, arrayLength: length };
  }
  let values: string[] | null = length <= limits.keepArrayLength ? [] : null;
  for (let i = 0; i < length; i++) {
    const n = await readLength(r, `${field}[${i}]`, limits.maxStringBytes);
    if (values && n <= limits.keepStringBytes && keep(n + 8)) values.push(await readText(r, field, n));
    else {
      // One element too long to keep summarizes the whole array: a partial array would mislead.
      values = null;
      r.skip(n, field);
    }
  }
  return { key, type: arrayType, value: values ?? summary, arrayLength: length };
}
