// The bytes of one client update and their strict reader. An update is a fixed header then the
// values: float32, int8 with one float32 scale per chunk, or masked uint32 fixed point (secure
// aggregation). The reader walks any chunking of the bytes in fixed blocks, so a 5 M-weight update
// arriving as a stream is never materialised as a second full array; everything that does not match
// the round (version, shape, length, NaN/Inf, size) is refused with a reason.

export type UpdateEncoding = "float32" | "int8" | "masked";
const ENCODINGS: readonly UpdateEncoding[] = ["float32", "int8", "masked"];
const MAGIC = 0x3155464b; // "KFU1" read little-endian
export const UPDATE_FORMAT = 1;
export const HEADER_BYTES = 40;
/** Values handed to a visitor at once: 64 KiB of float32, small enough to stay in cache. */
export const BLOCK = 16_384;

// Typed-array views are read in the platform's byte order; every board we ship on is little-endian.
if (new Uint8Array(Uint16Array.of(1).buffer)[0] !== 1)
  throw new Error("fedavg: big-endian hosts are not supported");

export interface UpdateHeader {
  encoding: UpdateEncoding;
  round: number;
  modelVersion: number;
  params: number;
  /** Training examples behind the update: its weight in the average. 0 for masked updates (weight is inside). */
  examples: number;
  /** Values per int8 scale; 0 otherwise. */
  chunk: number;
  /** The incoming global model evaluated on the client's own data before training (count, correct). */
  evalCount: number;
  evalCorrect: number;
}

/** What a coordinator expects of every update in a round. */
export interface UpdateExpectation {
  round: number;
  modelVersion: number;
  params: number;
  encodings: readonly UpdateEncoding[];
  maxExamples: number;
  /** Refused above this many bytes, whatever the header says. */
  maxBytes: number;
}

export type Refusal = { ok: false; reason: string };

/** A whole update in memory, or a re-readable stream of it (a staged transfer file). */
export type UpdateSource = Uint8Array | { byteLength: number; chunks(): AsyncIterable<Uint8Array> };

export function encodedBytes(h: Pick<UpdateHeader, "encoding" | "params" | "chunk">): number {
  if (h.encoding === "float32") return HEADER_BYTES + 4 * h.params;
  if (h.encoding === "masked") return HEADER_BYTES + 4 * (h.params + 1);
  return HEADER_BYTES + 4 * Math.ceil(h.params / h.chunk) + h.params;
}

function writeHeader(h: UpdateHeader, out: Uint8Array): void {
  const v = new DataView(out.buffer, out.byteOffset, HEADER_BYTES);
  v.setUint32(0, MAGIC, true);
  v.setUint8(4, UPDATE_FORMAT);
  v.setUint8(5, ENCODINGS.indexOf(h.encoding));
  const fields = [h.round, h.modelVersion, h.params, h.examples, h.chunk, h.evalCount, h.evalCorrect];
  fields.forEach((f, i) => {
    v.setUint32(8 + 4 * i, f, true);
  });
}

/** The header alone, for writers that stream the values after it. */
export function encodeHeader(h: UpdateHeader): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES);
  writeHeader(h, out);
  return out;
}

/** float32 and masked: `values` as they are; int8: quantised here with one scale per `chunk` values. */
export function encodeUpdate(h: UpdateHeader, values: Float32Array | Uint32Array): Uint8Array {
  const want = h.encoding === "masked" ? h.params + 1 : h.params;
  if (values.length !== want)
    throw new RangeError(`encodeUpdate: ${values.length} values, header says ${want}`);
  const out = new Uint8Array(encodedBytes(h));
  writeHeader(h, out);
  if (h.encoding !== "int8") {
    out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), HEADER_BYTES);
    return out;
  }
  const { scales, q } = quantizeInt8(values as Float32Array, h.chunk);
  out.set(new Uint8Array(scales.buffer), HEADER_BYTES);
  out.set(new Uint8Array(q.buffer), HEADER_BYTES + scales.byteLength);
  return out;
}

/** Symmetric per-chunk int8: scale = max|v| / 127, so the largest value of each chunk is exact. */
export function quantizeInt8(values: Float32Array, chunk: number): { scales: Float32Array; q: Int8Array } {
  const scales = new Float32Array(Math.ceil(values.length / chunk));
  const q = new Int8Array(values.length);
  for (let c = 0; c < scales.length; c++) {
    const end = Math.min(values.length, (c + 1) * chunk);
    let max = 0;
    for (let i = c * chunk; i < end; i++) max = Math.max(max, Math.abs(values[i] ?? 0));
    const scale = Math.fround(max / 127);
    scales[c] = scale;
    if (scale > 0) for (let i = c * chunk; i < end; i++) q[i] = Math.round((values[i] ?? 0) / scale);
  }
  return { scales, q };
}

/** Checks the header against the round; the reason names the first field that does not fit. */
export function parseHeader(
  bytes: Uint8Array,
  e: UpdateExpectation,
): { ok: true; header: UpdateHeader } | Refusal {
  if (bytes.length < HEADER_BYTES)
    return { ok: false, reason: `update shorter than its ${HEADER_BYTES}-byte header` };
  const v = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  if (v.getUint32(0, true) !== MAGIC) return { ok: false, reason: "not a FedAvg update (bad magic)" };
  if (v.getUint8(4) !== UPDATE_FORMAT)
    return { ok: false, reason: `update format ${v.getUint8(4)} is not supported` };
  const encoding = ENCODINGS[v.getUint8(5)];
  if (!encoding || !e.encodings.includes(encoding))
    return { ok: false, reason: `encoding ${encoding ?? v.getUint8(5)} is not accepted in this round` };
  if (v.getUint16(6, true) !== 0) return { ok: false, reason: "reserved header bytes are not zero" };
  const [round, modelVersion, params, examples, chunk, evalCount, evalCorrect] = [0, 1, 2, 3, 4, 5, 6].map(
    (i) => v.getUint32(8 + 4 * i, true),
  ) as [number, number, number, number, number, number, number];
  const h: UpdateHeader = { encoding, round, modelVersion, params, examples, chunk, evalCount, evalCorrect };
  if (round !== e.round)
    return { ok: false, reason: `update is for round ${round}, this is round ${e.round}` };
  if (modelVersion !== e.modelVersion)
    return {
      ok: false,
      reason: `update trained from model ${modelVersion}, the round sent ${e.modelVersion}`,
    };
  if (params !== e.params)
    return { ok: false, reason: `update has ${params} weights, the model has ${e.params}` };
  if (encoding === "masked" ? examples !== 0 : examples < 1 || examples > e.maxExamples)
    return { ok: false, reason: `example count ${examples} outside [1, ${e.maxExamples}]` };
  if (encoding === "int8" ? chunk < 16 || chunk > 65_536 : chunk !== 0)
    return { ok: false, reason: `chunk size ${chunk} is not valid for ${encoding}` };
  if (evalCorrect > evalCount) return { ok: false, reason: "evaluation reports more correct than examples" };
  const size = encodedBytes(h);
  if (size > e.maxBytes)
    return { ok: false, reason: `update of ${size} bytes exceeds the limit of ${e.maxBytes}` };
  return { ok: true, header: h };
}

/** Block buffers of one reader; an aggregator reuses them so that 200 reads leave no garbage behind. */
export interface ReadScratch {
  f32: Float32Array;
  u32: Uint32Array;
  i8: Uint8Array;
}

export function createReadScratch(): ReadScratch {
  return { f32: new Float32Array(BLOCK), u32: new Uint32Array(BLOCK), i8: new Uint8Array(BLOCK) };
}

/** Visitor of decoded values: float32 (dequantised int8 too) or masked uint32, `block` reused between calls. */
export type ValueVisitor = (offset: number, block: Float32Array | Uint32Array) => void;

/**
 * Reads an update, calling `visit` with consecutive blocks of values. Returns the header, or the
 * first reason to refuse it; a refusal may come after some blocks were visited (e.g. a NaN late in
 * the stream), so callers that accumulate validate in a first pass (see aggregator.ts).
 */
export async function readUpdate(
  source: UpdateSource,
  e: UpdateExpectation,
  visit: ValueVisitor,
  scratch: ReadScratch = createReadScratch(),
): Promise<{ ok: true; header: UpdateHeader } | Refusal> {
  if (source.byteLength > e.maxBytes)
    return { ok: false, reason: `update of ${source.byteLength} bytes exceeds the limit of ${e.maxBytes}` };
  const head = new Uint8Array(HEADER_BYTES);
  let headFill = 0;
  let header: UpdateHeader | null = null;
  let scales: Float32Array | null = null;
  let scaleBytes: Uint8Array | null = null;
  let scaleFill = 0;
  const { f32, u32, i8 } = scratch;
  // Raw bytes of the current block, aligned whatever the chunking of the source.
  let raw: Uint8Array = new Uint8Array(0);
  let width = 4;
  let rawFill = 0;
  let done = 0;
  let total = 0;
  let bad: string | null = null;

  const flush = () => {
    if (!header || rawFill === 0) return;
    const n = rawFill / width;
    if (header.encoding === "masked") {
      visit(done, u32.subarray(0, n));
    } else if (header.encoding === "float32") {
      for (let i = 0; i < n; i++) {
        if (!Number.isFinite(f32[i] ?? 0)) {
          bad = `weight ${done + i} is not a finite number`;
          return;
        }
      }
      visit(done, f32.subarray(0, n));
    } else {
      const q = new Int8Array(raw.buffer, 0, n);
      for (let i = 0; i < n; i++)
        f32[i] = (q[i] ?? 0) * ((scales as Float32Array)[Math.floor((done + i) / header.chunk)] ?? 0);
      visit(done, f32.subarray(0, n));
    }
    done += n;
    rawFill = 0;
  };

  const chunks = source instanceof Uint8Array ? [source] : source.chunks();
  for await (const chunk of chunks) {
    let at = 0;
    total += chunk.length;
    // A stream may say one length and deliver another; the header's length is the one that counts.
    if (total > e.maxBytes || (header && total > encodedBytes(header)))
      return { ok: false, reason: "update is longer than its header says" };
    while (at < chunk.length && bad === null) {
      if (!header) {
        const take = Math.min(HEADER_BYTES - headFill, chunk.length - at);
        head.set(chunk.subarray(at, at + take), headFill);
        headFill += take;
        at += take;
        if (headFill < HEADER_BYTES) continue;
        const parsed = parseHeader(head, e);
        if (!parsed.ok) return parsed;
        header = parsed.header;
        if (source.byteLength !== encodedBytes(header))
          return {
            ok: false,
            reason: `update is ${source.byteLength} bytes, its header implies ${encodedBytes(header)}`,
          };
        width = header.encoding === "int8" ? 1 : 4;
        raw =
          header.encoding === "masked"
            ? new Uint8Array(u32.buffer)
            : header.encoding === "float32"
              ? new Uint8Array(f32.buffer)
              : i8;
        if (header.encoding === "int8") {
          scales = new Float32Array(Math.ceil(header.params / header.chunk));
          scaleBytes = new Uint8Array(scales.buffer);
        }
        continue;
      }
      if (scaleBytes && scaleFill < scaleBytes.length) {
        const take = Math.min(scaleBytes.length - scaleFill, chunk.length - at);
        scaleBytes.set(chunk.subarray(at, at + take), scaleFill);
        scaleFill += take;
        at += take;
        if (
          scaleFill === scaleBytes.length &&
          !(scales as Float32Array).every((s) => Number.isFinite(s) && s >= 0)
        )
          return { ok: false, reason: "an int8 scale is negative or not finite" };
        continue;
      }
      const take = Math.min(BLOCK * width - rawFill, chunk.length - at);
      raw.set(chunk.subarray(at, at + take), rawFill);
      rawFill += take;
      at += take;
      if (rawFill === BLOCK * width) flush();
    }
    if (bad !== null) return { ok: false, reason: bad };
  }
  if (rawFill % width === 0) flush();
  if (bad !== null) return { ok: false, reason: bad };
  if (!header) return { ok: false, reason: `update shorter than its ${HEADER_BYTES}-byte header` };
  const values = header.encoding === "masked" ? header.params + 1 : header.params;
  if (total !== encodedBytes(header) || done !== values)
    return { ok: false, reason: `update ended after ${total} of ${encodedBytes(header)} bytes` };
  return { ok: true, header };
}
