// Writes tiny ONNX models for tests: Y = Relu(X·W + B) with float initializers, encoded by hand in
// the protobuf wire format with ONNX's field numbers, plus the encoder for malformed variants.
import { truncateSync, writeFileSync } from "node:fs";

/** Protobuf field encoders; each returns the bytes of one complete field. */
export const pb = {
  varint(v: number | bigint): number[] {
    let x = BigInt.asUintN(64, BigInt(v));
    const out: number[] = [];
    do {
      const b = Number(x & 0x7fn);
      x >>= 7n;
      out.push(x > 0n ? b | 0x80 : b);
    } while (x > 0n);
    return out;
  },
  tag: (field: number, wire: number) => pb.varint((field << 3) | wire),
  int: (field: number, v: number | bigint) => [...pb.tag(field, 0), ...pb.varint(v)],
  bytes: (field: number, payload: Uint8Array | number[]) => [
    ...pb.tag(field, 2),
    ...pb.varint(payload.length),
    ...payload,
  ],
  str: (field: number, s: string) => pb.bytes(field, [...new TextEncoder().encode(s)]),
  msg: (field: number, ...parts: number[][]) => pb.bytes(field, parts.flat()),
};

const FLOAT = 1;

export interface TinyOnnx {
  /** Input width and output width. */
  inputs: number;
  outputs: number;
  /** Row-major [inputs][outputs]. */
  weights: Float32Array;
  bias: Float32Array;
}

export function tinyOnnxParams(): TinyOnnx {
  const inputs = 4;
  const outputs = 3;
  // Chosen so that some outputs are negative before the Relu and get clamped.
  const weights = Float32Array.from({ length: inputs * outputs }, (_, i) => ((i * 7) % 5) / 4 - 0.5);
  const bias = Float32Array.from([0.25, -1.5, 0.125]);
  return { inputs, outputs, weights, bias };
}

const valueInfo = (field: number, name: string, dims: (number | string)[]) =>
  pb.msg(
    field,
    pb.str(1, name),
    pb.msg(
      2,
      pb.msg(
        1,
        pb.int(1, FLOAT),
        pb.msg(2, ...dims.map((d) => pb.msg(1, typeof d === "number" ? pb.int(1, d) : pb.str(2, d)))),
      ),
    ),
  );

const initializer = (name: string, dims: number[], values: Float32Array) =>
  pb.msg(
    5,
    ...dims.map((d) => pb.int(1, d)),
    pb.int(2, FLOAT),
    pb.str(8, name),
    pb.bytes(9, new Uint8Array(values.buffer, values.byteOffset, values.byteLength)),
  );

const node = (op: string, inputs: string[], outputs: string[]) =>
  pb.msg(
    1,
    ...inputs.map((i) => pb.str(1, i)),
    ...outputs.map((o) => pb.str(2, o)),
    pb.str(3, op),
    pb.str(4, op),
  );

/**
 * The ModelProto bytes: IR 8, opset 13, a batch dimension named "batch". `initializersAsInputs`
 * also declares W and B as graph inputs, as IR 3 required.
 */
export function encodeTinyOnnx(
  p: TinyOnnx = tinyOnnxParams(),
  opts: { initializersAsInputs?: boolean } = {},
): Uint8Array {
  const legacy = opts.initializersAsInputs
    ? [valueInfo(11, "W", [p.inputs, p.outputs]), valueInfo(11, "B", [p.outputs])]
    : [];
  const graph = pb.msg(
    7,
    node("MatMul", ["X", "W"], ["XW"]),
    node("Add", ["XW", "B"], ["XWB"]),
    node("Relu", ["XWB"], ["Y"]),
    pb.str(2, "tiny-mlp"),
    initializer("W", [p.inputs, p.outputs], p.weights),
    initializer("B", [p.outputs], p.bias),
    valueInfo(11, "X", ["batch", p.inputs]),
    ...legacy,
    valueInfo(12, "Y", ["batch", p.outputs]),
  );
  return Uint8Array.from([
    ...pb.int(1, 8),
    ...pb.str(2, "kiana-tests"),
    ...pb.str(3, "1"),
    ...graph,
    ...pb.msg(8, pb.str(1, ""), pb.int(2, 13)),
    ...pb.msg(14, pb.str(1, "purpose"), pb.str(2, "onnx-meta test")),
  ]);
}

export function writeTinyOnnx(path: string, p: TinyOnnx = tinyOnnxParams()): Uint8Array {
  const bytes = encodeTinyOnnx(p);
  writeFileSync(path, bytes);
  return bytes;
}

/** What the model computes, in plain arithmetic, for checking the runtime's answer. */
export function tinyOnnxReference(p: TinyOnnx, x: Float32Array): Float32Array {
  const batch = x.length / p.inputs;
  const y = new Float32Array(batch * p.outputs);
  for (let b = 0; b < batch; b++) {
    for (let o = 0; o < p.outputs; o++) {
      let sum = p.bias[o] ?? 0;
      for (let i = 0; i < p.inputs; i++)
        sum += (x[b * p.inputs + i] ?? 0) * (p.weights[i * p.outputs + o] ?? 0);
      y[b * p.outputs + o] = Math.max(0, sum);
    }
  }
  return y;
}

/**
 * A model whose one float initializer of `elements` values is stored inline but left as a hole in a
 * sparse file: the file is gigabytes long on paper, and a reader that loaded it would show.
 */
export function writeSparseOnnx(path: string, elements: number): number {
  const dataBytes = elements * 4;
  const init = [
    ...pb.int(1, elements),
    ...pb.int(2, FLOAT),
    ...pb.str(8, "E"),
    ...pb.tag(9, 2),
    ...pb.varint(dataBytes),
  ];
  const initLen = init.length + dataBytes;
  const rest = [...node("Gather", ["E", "ids"], ["Y"]), ...valueInfo(12, "Y", ["n"])];
  const initField = [...pb.tag(5, 2), ...pb.varint(initLen), ...init];
  const graphLen = rest.length + initField.length + dataBytes;
  const prefix = Uint8Array.from([
    ...pb.int(1, 8),
    ...pb.msg(8, pb.int(2, 13)),
    ...pb.tag(7, 2),
    ...pb.varint(graphLen),
    ...rest,
    ...initField,
  ]);
  writeFileSync(path, prefix);
  truncateSync(path, prefix.length + dataBytes);
  return prefix.length + dataBytes;
}
