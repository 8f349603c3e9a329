// GGUF header reader (versions 2 and 3, little-endian): what a model is and how much memory it needs,
// read through a file handle with every count capped, so a hostile or truncated file is refused early.
import { isKianaError, kianaError } from "../errors.ts";
import { type ByteReader, openByteReader } from "./byte-reader.ts";
import { fileTypeName, ggmlType } from "./ggml-types.ts";
import { GGUF_LIMITS, type GgufLimits, type GgufValue, readKv } from "./gguf-values.ts";

export type { GgufLimits, GgufSummary, GgufValue } from "./gguf-values.ts";
export { GGUF_LIMITS } from "./gguf-values.ts";

export interface GgufTensorInfo {
  name: string;
  /** ne0 first, as ggml orders them. */
  dims: number[];
  type: string;
  /** Relative to the tensor data section. */
  offset: number;
  elements: number;
  bytes: number;
}

export interface GgufInfo {
  format: "gguf";
  path: string;
  fileBytes: number;
  version: 2 | 3;
  architecture: string;
  name: string | null;
  /** Sum of the tensors' element counts. */
  parameterCount: number;
  fileType: number | null;
  /** From general.file_type ("Q4_K_M"); without it, the tensor type holding the most bytes. */
  quantization: string;
  tensorCount: number;
  tensorBytes: number;
  tensorBytesByType: Record<string, number>;
  /** Bytes of the blk.N.* tensors per block N: what offloading N layers moves to a GPU. */
  layerBytes: number[];
  /** token_embd.*: llama.cpp keeps the input embedding on the CPU. */
  embeddingBytes: number;
  /** Tensors outside blocks other than the embedding (output, output_norm, ...). */
  outputBytes: number;
  /** Whether output.weight exists; without it the output reuses (and on a GPU copies) token_embd. */
  hasOutputWeight: boolean;
  contextLength: number | null;
  embeddingLength: number | null;
  blockCount: number | null;
  feedForwardLength: number | null;
  headCount: number | null;
  headCountKv: number | null;
  /** Per-head K and V widths; default embeddingLength / headCount. */
  keyLength: number | null;
  valueLength: number | null;
  vocabSize: number | null;
  alignment: number;
  tensorDataOffset: number;
  expectedFileBytes: number;
  /** Scalars and small arrays as written; long strings and arrays as summaries. */
  metadata: Record<string, GgufValue>;
  /** Only with `includeTensors`. */
  tensors?: GgufTensorInfo[];
}

export interface ReadGgufOptions {
  includeTensors?: boolean;
  limits?: Partial<GgufLimits>;
}

const MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
const MAX_DIMS = 4; // GGML_MAX_DIMS
const MAX_TENSOR_NAME = 63; // GGML_MAX_NAME minus the NUL
const MIN_KV_BYTES = 8 + 1 + 4 + 1; // key length, 1-byte key, value type, 1-byte value
const MIN_TENSOR_BYTES = 8 + 1 + 4 + 4 + 8; // name length, 1-byte name, n_dims, type, offset

/** Reads the header of the GGUF file at `path`; refuses anything malformed with MODEL_FILE_INVALID. */
export async function readGgufInfo(path: string, opts: ReadGgufOptions = {}): Promise<GgufInfo> {
  const r = await openByteReader(path);
  try {
    return await parse(r, { ...GGUF_LIMITS, ...opts.limits }, opts.includeTensors ?? false);
  } catch (err) {
    if (isKianaError(err)) throw err;
    // Anything else (a RangeError from a hostile size, say) is still the file's fault.
    throw kianaError("MODEL_FILE_INVALID", `${path}: unreadable GGUF header`, { path }, err);
  } finally {
    await r.close();
  }
}

/** A count read as u64 that must fit in `max` and in the bytes left for items of `minBytes` each. */
async function readCount(r: ByteReader, field: string, max: number, minBytes: number): Promise<number> {
  const at = r.position;
  const n = await r.u64(field);
  if (typeof n === "bigint" || n > max) throw r.invalid(field, at, `${n} exceeds the limit of ${max}`);
  if (n * minBytes > r.size - r.position) {
    throw r.invalid(
      field,
      at,
      `${n} entries cannot fit in the ${r.size - r.position} bytes left (truncated?)`,
    );
  }
  return n;
}

async function parse(r: ByteReader, limits: GgufLimits, includeTensors: boolean): Promise<GgufInfo> {
  if (r.size < 4 || (await r.u32("magic")) !== MAGIC) {
    throw r.invalid("magic", 0, 'not a GGUF file (the first four bytes are not "GGUF")');
  }
  const version = await r.u32("version");
  if (version !== 2 && version !== 3) {
    const why =
      version === 1
        ? "GGUF version 1 is not supported (2 and 3 are)"
        : version > 0xffff && (version & 0xffff) === 0
          ? "big-endian GGUF is not supported"
          : `unsupported GGUF version ${version}`;
    throw r.invalid("version", 4, why);
  }
  const tensorCount = await readCount(r, "tensor_count", limits.maxTensors, MIN_TENSOR_BYTES);
  const kvCount = await readCount(r, "metadata_kv_count", limits.maxKv, MIN_KV_BYTES);

  const metadata: Record<string, GgufValue> = Object.create(null);
  const arrayLengths = new Map<string, number>();
  const keyOffsets = new Map<string, number>();
  const budget = { keptBytes: 0 };
  for (let i = 0; i < kvCount; i++) {
    const at = r.position;
    const kv = await readKv(r, limits, budget);
    if (Object.hasOwn(metadata, kv.key)) throw r.invalid(`metadata key ${kv.key}`, at, "duplicate key");
    if (kv.key === "general.alignment" && kv.type !== "uint32") {
      throw r.invalid("general.alignment", at, `must be a uint32, not ${kv.type}`);
    }
    metadata[kv.key] = kv.value;
    keyOffsets.set(kv.key, at);
    if (kv.arrayLength !== null) arrayLengths.set(kv.key, kv.arrayLength);
  }

  const alignment = (metadata["general.alignment"] as number | undefined) ?? 32;
  if (alignment === 0 || (alignment & (alignment - 1)) !== 0) {
    throw r.invalid(
      "general.alignment",
      keyOffsets.get("general.alignment") ?? 0,
      `${alignment} is not a power of two`,
    );
  }
  const arch = metadata["general.architecture"];
  if (typeof arch !== "string" || !/^[A-Za-z0-9_.-]{1,64}$/.test(arch)) {
    const at = keyOffsets.get("general.architecture") ?? 0;
    throw r.invalid("general.architecture", at, "missing, or not a short architecture name");
  }
  const int = (key: string) => intValue(r, metadata, key, keyOffsets.get(key) ?? 0);
  const blockCount = int(`${arch}.block_count`);

  const tensors: GgufTensorInfo[] = [];
  const names = new Set<string>();
  const extents: { name: string; start: number; end: number }[] = [];
  const byType: Record<string, number> = Object.create(null);
  const layerBytes: number[] = [];
  let parameterCount = 0;
  let embeddingBytes = 0;
  let outputBytes = 0;
  for (let i = 0; i < tensorCount; i++) {
    const at = r.position;
    const t = await readTensorInfo(r, alignment);
    if (names.has(t.name)) throw r.invalid(`tensor ${t.name}`, at, "duplicate tensor name");
    names.add(t.name);
    extents.push({ name: t.name, start: t.offset, end: t.offset + t.bytes });
    byType[t.type] = (byType[t.type] ?? 0) + t.bytes;
    parameterCount += t.elements;
    const blk = /^blk\.(\d+)\./.exec(t.name);
    if (blk) {
      const n = Number(blk[1]);
      if (n >= limits.maxBlocks) throw r.invalid(`tensor ${t.name}`, at, "block index too large");
      while (layerBytes.length <= n) layerBytes.push(0);
      layerBytes[n] = (layerBytes[n] ?? 0) + t.bytes;
    } else if (t.name.startsWith("token_embd.")) embeddingBytes += t.bytes;
    else outputBytes += t.bytes;
    if (includeTensors) tensors.push(t);
  }

  const infosEnd = r.position;
  const tensorDataOffset = Math.ceil(infosEnd / alignment) * alignment;
  extents.sort((a, b) => a.start - b.start);
  // Against the furthest end so far, so a tensor hidden inside a long one is caught too.
  let dataEnd = 0;
  let endsLast = "";
  for (const e of extents) {
    if (e.start < dataEnd) {
      throw r.invalid(`tensor ${e.name}`, tensorDataOffset + e.start, `overlaps tensor ${endsLast}`);
    }
    if (e.end >= dataEnd) [dataEnd, endsLast] = [e.end, e.name];
  }
  const expectedFileBytes = extents.length > 0 ? tensorDataOffset + dataEnd : infosEnd;
  if (r.size < expectedFileBytes) {
    const past = extents.find((e) => tensorDataOffset + e.end > r.size);
    const what = past ? `tensor ${past.name} ends at ${tensorDataOffset + past.end}` : "the header ends";
    throw r.invalid("tensor data", tensorDataOffset, `${what} but the file has ${r.size} bytes (truncated)`);
  }

  const fileType = int("general.file_type");
  const tensorBytes = Object.values(byType).reduce((a, b) => a + b, 0);
  const dominant = Object.entries(byType).sort((a, b) => b[1] - a[1])[0]?.[0] ?? "F32";
  const embd = int(`${arch}.embedding_length`);
  const heads = int(`${arch}.attention.head_count`);
  const headDim = embd !== null && heads ? embd / heads : null;
  const name = metadata["general.name"];
  return {
    format: "gguf",
    path: r.path,
    fileBytes: r.size,
    version,
    architecture: arch,
    name: typeof name === "string" ? name : null,
    parameterCount,
    fileType,
    quantization: fileType === null ? dominant : fileTypeName(fileType),
    tensorCount,
    tensorBytes,
    tensorBytesByType: { ...byType },
    layerBytes,
    embeddingBytes,
    outputBytes,
    hasOutputWeight: names.has("output.weight"),
    contextLength: int(`${arch}.context_length`),
    embeddingLength: embd,
    blockCount,
    feedForwardLength: int(`${arch}.feed_forward_length`),
    headCount: heads,
    headCountKv: int(`${arch}.attention.head_count_kv`) ?? heads,
    keyLength: int(`${arch}.attention.key_length`) ?? headDim,
    valueLength: int(`${arch}.attention.value_length`) ?? headDim,
    vocabSize: arrayLengths.get("tokenizer.ggml.tokens") ?? int(`${arch}.vocab_size`),
    alignment,
    tensorDataOffset,
    expectedFileBytes,
    metadata: { ...metadata },
    ...(includeTensors ? { tensors } : {}),
  };
}

async function readTensorInfo(r: ByteReader, alignment: number): Promise<GgufTensorInfo> {
  const at = r.position;
  const nameLen = await r.u64("tensor name length");
  if (typeof nameLen === "bigint" || nameLen === 0 || nameLen > MAX_TENSOR_NAME) {
    throw r.invalid("tensor name length", at, `${nameLen} is not within 1..${MAX_TENSOR_NAME}`);
  }
  const name = decodeName(r, await r.bytes(nameLen, "tensor name"), at);
  const field = `tensor ${name}`;
  const nDims = await r.u32(`${field} n_dims`);
  if (nDims > MAX_DIMS) throw r.invalid(`${field} n_dims`, r.position - 4, `${nDims} exceeds ${MAX_DIMS}`);
  const dims: number[] = [];
  let elements = 1;
  for (let d = 0; d < nDims; d++) {
    const dimAt = r.position;
    const n = await r.u64(`${field} dims`);
    if (typeof n === "bigint" || (n > 0 && elements > Number.MAX_SAFE_INTEGER / n)) {
      throw r.invalid(`${field} dims`, dimAt, "element count overflows");
    }
    dims.push(n);
    elements *= n;
  }
  const typeAt = r.position;
  const typeId = await r.u32(`${field} type`);
  const type = ggmlType(typeId);
  if (!type) throw r.invalid(`${field} type`, typeAt, `unknown or retired ggml type ${typeId}`);
  if ((dims[0] ?? 1) % type.blockSize !== 0) {
    throw r.invalid(`${field} dims`, typeAt, `ne0 ${dims[0]} is not a multiple of ${type.name}'s block`);
  }
  const offsetAt = r.position;
  const offset = await r.u64(`${field} offset`);
  if (typeof offset === "bigint" || offset % alignment !== 0) {
    throw r.invalid(`${field} offset`, offsetAt, `${offset} is not a multiple of the alignment ${alignment}`);
  }
  const bytes = (elements / type.blockSize) * type.typeSize;
  return { name, dims, type: type.name, offset, elements, bytes };
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function decodeName(r: ByteReader, bytes: Uint8Array, at: number): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw r.invalid("tensor name", at, "not valid UTF-8");
  }
}

/** A non-negative integer key; a per-layer array counts as its largest entry. */
function intValue(
  r: ByteReader,
  metadata: Record<string, GgufValue>,
  key: string,
  at: number,
): number | null {
  const v = metadata[key];
  if (v === undefined) return null;
  const values = Array.isArray(v) ? v : [v];
  const ok = values.length > 0 && values.every((x) => typeof x === "number" && Number.isInteger(x) && x >= 0);
  if (!ok) throw r.invalid(key, at, "must be a non-negative integer");
  return Math.max(...(values as number[]));
}
