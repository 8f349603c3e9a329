// ONNX metadata reader against a hand-encoded model that onnxruntime really runs, a sparse multi-GiB
// model read without loading it, and malformed protobuf refused with the field and offset.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type * as Ort from "onnxruntime-node";
import { isKianaError } from "../errors.ts";
import { createEngineRegistry } from "../platform/engines.ts";
import { writeTinyLlama } from "./gguf-writer.test-helper.ts";
import { type OnnxLimits, readOnnxInfo } from "./onnx-meta.ts";
import {
  encodeTinyOnnx,
  pb,
  tinyOnnxParams,
  tinyOnnxReference,
  writeSparseOnnx,
  writeTinyOnnx,
} from "./onnx-writer.test-helper.ts";

const tmp = mkdtempSync(join(tmpdir(), "kiana-onnx-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const write = (bytes: Uint8Array | number[]) => {
  const path = join(tmp, `m${n++}.onnx`);
  writeFileSync(path, Uint8Array.from(bytes));
  return path;
};

async function refused(path: string, limits: Partial<OnnxLimits>, ...patterns: RegExp[]): Promise<void> {
  const err = await readOnnxInfo(path, { limits }).then(
    () => null,
    (e: unknown) => e,
  );
  if (!isKianaError(err, "MODEL_FILE_INVALID")) throw new Error(`expected MODEL_FILE_INVALID, got ${err}`);
  for (const p of patterns) expect(err.message).toMatch(p);
}

const tinyPath = join(tmp, "tiny.onnx");
writeTinyOnnx(tinyPath);

test("the tiny model's metadata reads back as written", async () => {
  expect(await readOnnxInfo(tinyPath)).toEqual({
    format: "onnx",
    path: tinyPath,
    fileBytes: statSync(tinyPath).size,
    irVersion: 8,
    producerName: "kiana-tests",
    producerVersion: "1",
    domain: null,
    modelVersion: null,
    opsets: [{ domain: "", version: 13 }],
    metadata: { purpose: "onnx-meta test" },
    graphName: "tiny-mlp",
    inputs: [{ name: "X", kind: "tensor", elemType: "float32", shape: ["batch", 4] }],
    outputs: [{ name: "Y", kind: "tensor", elemType: "float32", shape: ["batch", 3] }],
    nodeCount: 3,
    opTypes: { MatMul: 1, Add: 1, Relu: 1 },
    initializerCount: 2,
    parameterCount: 4 * 3 + 3,
    initializerBytes: (4 * 3 + 3) * 4,
  });
});

test("onnxruntime (through the engine loader) runs it and computes Relu(X·W + B)", async () => {
  const ort = (await createEngineRegistry().load("onnxruntime")) as typeof Ort;
  const session = await ort.InferenceSession.create(tinyPath, {
    executionProviders: ["cpu"],
    intraOpNumThreads: 1,
  });
  try {
    const info = await readOnnxInfo(tinyPath);
    expect(session.inputNames).toEqual(info.inputs.map((i) => i.name));
    expect(session.outputNames).toEqual(info.outputs.map((o) => o.name));
    const x = Float32Array.from([1, -2, 0.5, 3, -1, 0, 2, -0.5]);
    const out = await session.run({ X: new ort.Tensor("float32", x, [2, 4]) });
    const y = out.Y;
    expect(y?.dims).toEqual([2, 3]);
    const want = tinyOnnxReference(tinyOnnxParams(), x);
    expect(want.some((v) => v === 0) && want.some((v) => v > 0)).toBe(true);
    expect(Array.from(y?.data as Float32Array).map((v) => Number(v.toFixed(5)))).toEqual(
      Array.from(want).map((v) => Number(v.toFixed(5))),
    );
  } finally {
    await session.release();
  }
});

test("a 4 GiB initializer in a sparse file is counted, not read", async () => {
  const path = join(tmp, "sparse.onnx");
  const elements = 2 ** 30;
  const size = writeSparseOnnx(path, elements);
  const t0 = performance.now();
  const info = await readOnnxInfo(path);
  expect(performance.now() - t0).toBeLessThan(2000);
  expect(info).toMatchObject({ fileBytes: size, parameterCount: elements, initializerBytes: elements * 4 });
  expect(info.inputs).toEqual([]);
  expect(info.opTypes).toEqual({ Gather: 1 });
});

test("initializers also declared as inputs (IR 3 style) are not reported as inputs", async () => {
  const info = await readOnnxInfo(write(encodeTinyOnnx(tinyOnnxParams(), { initializersAsInputs: true })));
  expect(info.inputs.map((i) => i.name)).toEqual(["X"]);
  expect(info.initializerCount).toBe(2);
});

describe("refusals", () => {
  const tiny = Array.from(encodeTinyOnnx());
  const graph = pb.msg(7, pb.str(2, "g"));
  const opset = pb.msg(8, pb.int(2, 13));

  test("not a model at all: empty, a GGUF file, no graph, no IR version, no opset", async () => {
    await refused(write([]), {}, /no graph/);
    const gguf = join(tmp, "tiny.gguf");
    writeTinyLlama(gguf);
    await refused(gguf, {}, /ModelProto/);
    await refused(write([...pb.int(1, 8), ...opset]), {}, /no graph/);
    await refused(write([...graph, ...opset]), {}, /ir_version/, /implausible/);
    await refused(write([...pb.int(1, 8), ...graph]), {}, /imports no operator set/);
    await refused(write([...pb.int(1, 8), ...graph, ...graph, ...opset]), {}, /more than one graph/);
  });

  test("malformed wire format", async () => {
    await refused(write(tiny.slice(0, tiny.length - 7)), {}, /runs past the end/);
    await refused(write([...pb.tag(3, 3), 0]), {}, /field 3/, /unsupported wire type 3/);
    await refused(write([...pb.tag(1, 0), ...new Array(10).fill(0xff), 1]), {}, /varint/);
    await refused(write([0x00, 0x01]), {}, /invalid field number 0/);
    await refused(
      write([...pb.str(1, "eight"), ...graph, ...opset]),
      {},
      /ir_version/,
      /wire type 2 where 0/,
    );
    await refused(write([...pb.int(1, -1), ...graph, ...opset]), {}, /ir_version/, /out of range/);
    await refused(
      write([...pb.int(1, 8), ...pb.msg(7, [0x0a, 0x05, 0x01]), ...opset]),
      {},
      /graph field 1/,
      /runs past/,
    );
    const badUtf8 = [...pb.int(1, 8), ...pb.bytes(2, [0xc3, 0x28]), ...graph, ...opset];
    await refused(write(badUtf8), {}, /producer_name/, /not valid UTF-8/);
  });

  test("initializers whose shape and data disagree, or with unknown types", async () => {
    const model = (...init: number[][]) =>
      write([...pb.int(1, 8), ...pb.msg(7, pb.msg(5, ...init)), ...opset]);
    await refused(
      model(pb.int(1, 4), pb.int(2, 1), pb.str(8, "W"), pb.bytes(9, [1, 2, 3])),
      {},
      /initializer W/,
      /16 bytes/,
    );
    await refused(model(pb.int(1, 4), pb.int(2, 99), pb.str(8, "T")), {}, /unknown data type 99/);
    await refused(model(pb.int(1, -4), pb.int(2, 1), pb.str(8, "N")), {}, /negative/);
  });

  test("limits: depth and field count", async () => {
    await refused(tinyPath, { maxDepth: 3 }, /nested deeper than 3/);
    await refused(tinyPath, { maxFields: 20 }, /more than 20 fields/);
    await refused(tinyPath, { maxStringBytes: 4 }, /exceed the limit of 4/);
  });

  test("fuzzed bytes parse or fail with MODEL_FILE_INVALID, nothing else", async () => {
    const original = readFileSync(tinyPath);
    let seed = 99;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    let refusedCount = 0;
    for (let i = 0; i < 200; i++) {
      const b = new Uint8Array(original);
      for (let k = 0; k < 1 + Math.floor(rand() * 3); k++)
        b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
      const err = await readOnnxInfo(
        write(i % 4 === 0 ? b.subarray(0, Math.floor(rand() * b.length)) : b),
      ).then(
        () => null,
        (e: unknown) => e,
      );
      if (err === null) continue;
      if (!isKianaError(err, "MODEL_FILE_INVALID")) throw err;
      refusedCount++;
    }
    expect(refusedCount).toBeGreaterThan(50);
  });
});
