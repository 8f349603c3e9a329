// ONNX ModelProto metadata (IR and opset versions, producer, graph inputs/outputs, parameter count)
// read from the protobuf in place, so that registering a model never loads its weights.
import { isKianaError, kianaError } from "../errors.ts";
import { openByteReader } from "./byte-reader.ts";
import { createPbReader, type PbField, type PbReader, toInt64 } from "./protobuf-reader.ts";

export interface OnnxValueInfo {
  name: string;
  kind: "tensor" | "sequence" | "map" | "optional" | "sparse_tensor" | "unknown";
  /** "float32", "int64", ...; null when not a tensor or not given. */
  elemType: string | null;
  /** Fixed sizes as numbers, symbolic ones by name, unknown as null; null when no shape is given. */
  shape: (number | string | null)[] | null;
}

export interface OnnxInfo {
  format: "onnx";
  path: string;
  fileBytes: number;
  irVersion: number;
  producerName: string | null;
  producerVersion: string | null;
  domain: string | null;
  modelVersion: number | null;
  opsets: { domain: string; version: number }[];
  metadata: Record<string, string>;
  graphName: string | null;
  /** Graph inputs that are not initializers: what a caller must feed. */
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  nodeCount: number;
  opTypes: Record<string, number>;
  initializerCount: number;
  /** Sum of the initializers' element counts. */
  parameterCount: number;
  /** Bytes the initializers take once loaded (from their shapes, wherever the data lives). */
  initializerBytes: number;
}

export interface OnnxLimits {
  maxStringBytes: number;
  maxFields: number;
  maxDepth: number;
  maxValueInfos: number;
  maxMetadata: number;
  maxOpTypes: number;
  maxDims: number;
}

export const ONNX_LIMITS: Readonly<OnnxLimits> = Object.freeze({
  maxStringBytes: 1 << 16,
  maxFields: 20_000_000,
  maxDepth: 16,
  maxValueInfos: 1 << 16,
  maxMetadata: 4096,
  maxOpTypes: 4096,
  maxDims: 64,
});

// TensorProto.DataType: name and size in bytes (fractions for the packed 4- and 2-bit types).
const ELEM_TYPES: Record<number, [string, number]> = {
  1: ["float32", 4],
  2: ["uint8", 1],
  3: ["int8", 1],
  4: ["uint16", 2],
  5: ["int16", 2],
  6: ["int32", 4],
  7: ["int64", 8],
  8: ["string", 0],
  9: ["bool", 1],
  10: ["float16", 2],
  11: ["float64", 8],
  12: ["uint32", 4],
  13: ["uint64", 8],
  14: ["complex64", 8],
  15: ["complex128", 16],
  16: ["bfloat16", 2],
  17: ["float8e4m3fn", 1],
  18: ["float8e4m3fnuz", 1],
  19: ["float8e5m2", 1],
  20: ["float8e5m2fnuz", 1],
  21: ["uint4", 0.5],
  22: ["int4", 0.5],
  23: ["float4e2m1", 0.5],
  24: ["float8e8m0", 1],
  25: ["uint2", 0.25],
  26: ["int2", 0.25],
};

/** Reads the ModelProto at `path`; refuses malformed protobuf and models without a graph. */
export async function readOnnxInfo(
  path: string,
  opts: { limits?: Partial<OnnxLimits> } = {},
): Promise<OnnxInfo> {
  const limits = { ...ONNX_LIMITS, ...opts.limits };
  const r = await openByteReader(path);
  try {
    return await parseModel(createPbReader(r, limits), limits);
  } catch (err) {
    if (isKianaError(err)) throw err;
    throw kianaError("MODEL_FILE_INVALID", `${path}: unreadable ONNX model`, { path }, err);
  } finally {
    await r.close();
  }
}

function safeInt(pb: PbReader, f: PbField, what: string, signed = true): number {
  pb.expectWire(f, 0, what);
  const v = signed ? toInt64(f.value) : f.value;
  if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) throw pb.r.invalid(what, f.at, `${v} is out of range`);
  return Number(v);
}

async function parseModel(pb: PbReader, limits: OnnxLimits): Promise<OnnxInfo> {
  const { r } = pb;
  const str = (f: PbField, what: string) => pb.string(f, what, limits.maxStringBytes);
  const info: OnnxInfo = {
    format: "onnx",
    path: r.path,
    fileBytes: r.size,
    irVersion: 0,
    producerName: null,
    producerVersion: null,
    domain: null,
    modelVersion: null,
    opsets: [],
    metadata: {},
    graphName: null,
    inputs: [],
    outputs: [],
    nodeCount: 0,
    opTypes: {},
    initializerCount: 0,
    parameterCount: 0,
    initializerBytes: 0,
  };
  let graphs = 0;
  for await (const f of pb.fields(0, r.size, "ModelProto", 0)) {
    if (f.field === 1) info.irVersion = safeInt(pb, f, "ir_version");
    else if (f.field === 2) info.producerName = await str(f, "producer_name");
    else if (f.field === 3) info.producerVersion = await str(f, "producer_version");
    else if (f.field === 4) info.domain = await str(f, "domain");
    else if (f.field === 5) info.modelVersion = safeInt(pb, f, "model_version");
    else if (f.field === 7) {
      if (++graphs > 1) throw r.invalid("graph", f.at, "more than one graph");
      pb.expectWire(f, 2, "graph");
      await parseGraph(pb, f, limits, info);
    } else if (f.field === 8) {
      pb.expectWire(f, 2, "opset_import");
      const opset = { domain: "", version: 0 };
      for await (const g of pb.fields(f.start, f.end, "opset_import", 1)) {
        if (g.field === 1) opset.domain = await str(g, "opset_import.domain");
        else if (g.field === 2) opset.version = safeInt(pb, g, "opset_import.version");
      }
      info.opsets.push(opset);
    } else if (f.field === 14) {
      pb.expectWire(f, 2, "metadata_props");
      if (Object.keys(info.metadata).length >= limits.maxMetadata) {
        throw r.invalid("metadata_props", f.at, `more than ${limits.maxMetadata} entries`);
      }
      let key = "";
      let value = "";
      for await (const g of pb.fields(f.start, f.end, "metadata_props", 1)) {
        if (g.field === 1) key = await str(g, "metadata_props.key");
        else if (g.field === 2) value = await str(g, "metadata_props.value");
      }
      info.metadata[key] = value;
    }
  }
  if (graphs === 0) throw r.invalid("graph", 0, "the model has no graph (not an ONNX model?)");
  if (info.irVersion < 1 || info.irVersion > 100) {
    throw r.invalid("ir_version", 0, `missing or implausible IR version ${info.irVersion}`);
  }
  if (info.opsets.length === 0) throw r.invalid("opset_import", 0, "the model imports no operator set");
  return info;
}

async function parseGraph(pb: PbReader, graph: PbField, limits: OnnxLimits, info: OnnxInfo): Promise<void> {
  const { r } = pb;
  const initializerNames = new Set<string>();
  const inputs: OnnxValueInfo[] = [];
  for await (const f of pb.fields(graph.start, graph.end, "graph", 1)) {
    if (f.field === 1) {
      pb.expectWire(f, 2, "graph.node");
      info.nodeCount++;
      for await (const g of pb.fields(f.start, f.end, "node", 2)) {
        if (g.field !== 4) continue;
        const op = await pb.string(g, "node.op_type", limits.maxStringBytes);
        if (!(op in info.opTypes) && Object.keys(info.opTypes).length >= limits.maxOpTypes) {
          throw r.invalid("node.op_type", g.at, `more than ${limits.maxOpTypes} distinct operators`);
        }
        info.opTypes[op] = (info.opTypes[op] ?? 0) + 1;
      }
    } else if (f.field === 2) info.graphName = await pb.string(f, "graph.name", limits.maxStringBytes);
    else if (f.field === 5) {
      pb.expectWire(f, 2, "graph.initializer");
      const t = await parseInitializer(pb, f, limits);
      initializerNames.add(t.name);
      info.initializerCount++;
      info.parameterCount += t.elements;
      info.initializerBytes += t.bytes;
    } else if (f.field === 11 || f.field === 12) {
      const list = f.field === 11 ? inputs : info.outputs;
      if (list.length >= limits.maxValueInfos)
        throw r.invalid("graph.input", f.at, "too many inputs/outputs");
      pb.expectWire(f, 2, "graph value info");
      list.push(await parseValueInfo(pb, f, limits));
    }
  }
  // IR < 4 lists initializers among the inputs; callers only care about what they must feed.
  info.inputs = inputs.filter((i) => !initializerNames.has(i.name));
}

async function parseInitializer(pb: PbReader, f: PbField, limits: OnnxLimits) {
  const { r } = pb;
  let name = "";
  let dims: bigint[] = [];
  let dataType = 0;
  let rawBytes: number | null = null;
  let external = false;
  for await (const g of pb.fields(f.start, f.end, "initializer", 2)) {
    if (g.field === 1) dims = dims.concat(await pb.varints(g, "initializer.dims"));
    else if (g.field === 2) dataType = safeInt(pb, g, "initializer.data_type");
    else if (g.field === 8) name = await pb.string(g, "initializer.name", limits.maxStringBytes);
    else if (g.field === 9) {
      pb.expectWire(g, 2, "initializer.raw_data");
      rawBytes = g.end - g.start;
    } else if (g.field === 14) external = safeInt(pb, g, "initializer.data_location") === 1;
  }
  const what = `initializer ${name}`;
  const type = ELEM_TYPES[dataType];
  if (!type) throw r.invalid(what, f.start, `unknown data type ${dataType}`);
  if (dims.length > limits.maxDims) throw r.invalid(what, f.start, `more than ${limits.maxDims} dimensions`);
  let elements = 1;
  for (const d of dims.map(toInt64)) {
    if (d < 0n || (d > 0n && elements > Number.MAX_SAFE_INTEGER / Number(d))) {
      throw r.invalid(what, f.start, `dimension ${d} is negative or overflows`);
    }
    elements *= Number(d);
  }
  const bytes = Math.ceil(elements * type[1]);
  // Data inline must match the shape; a mismatch means a corrupt or hand-edited file.
  if (rawBytes !== null && !external && type[1] > 0 && rawBytes !== bytes) {
    throw r.invalid(what, f.start, `shape needs ${bytes} bytes of raw_data but ${rawBytes} are present`);
  }
  return { name, elements, bytes };
}

async function parseValueInfo(pb: PbReader, f: PbField, limits: OnnxLimits): Promise<OnnxValueInfo> {
  const kinds: Record<number, OnnxValueInfo["kind"]> = {
    4: "sequence",
    5: "map",
    8: "sparse_tensor",
    9: "optional",
  };
  const info: OnnxValueInfo = { name: "", kind: "unknown", elemType: null, shape: null };
  for await (const g of pb.fields(f.start, f.end, "value_info", 2)) {
    if (g.field === 1) info.name = await pb.string(g, "value_info.name", limits.maxStringBytes);
    if (g.field !== 2) continue;
    pb.expectWire(g, 2, "value_info.type");
    for await (const t of pb.fields(g.start, g.end, "type", 3)) {
      const kind = t.field === 1 ? "tensor" : kinds[t.field];
      if (!kind) continue;
      info.kind = kind;
      if (kind !== "tensor") continue;
      pb.expectWire(t, 2, "type.tensor_type");
      for await (const u of pb.fields(t.start, t.end, "tensor_type", 4)) {
        if (u.field === 1) {
          const code = safeInt(pb, u, "tensor_type.elem_type");
          info.elemType = ELEM_TYPES[code]?.[0] ?? `type_${code}`;
        } else if (u.field === 2) {
          pb.expectWire(u, 2, "tensor_type.shape");
          info.shape = [];
          for await (const d of pb.fields(u.start, u.end, "shape", 5)) {
            if (d.field !== 1) continue;
            if (info.shape.length >= limits.maxDims) throw pb.r.invalid("shape", d.at, "too many dimensions");
            pb.expectWire(d, 2, "shape.dim");
            let dim: number | string | null = null;
            for await (const v of pb.fields(d.start, d.end, "dim", 6)) {
              if (v.field === 1) dim = safeInt(pb, v, "dim.dim_value");
              else if (v.field === 2) dim = await pb.string(v, "dim.dim_param", limits.maxStringBytes);
            }
            info.shape.push(dim);
          }
        }
      }
    }
  }
  return info;
}
