// Opening the small ONNX graphs of the wake word and VAD pipelines, and checking that a file is the
// graph a stage expects, so a wrong path fails at start-up with the file named, not mid-stream.
import { existsSync } from "node:fs";
import type * as Ort from "onnxruntime-node";
import { describeError, kianaError } from "../../errors.ts";

/** onnxruntime-node, passed in: `await engines.load("onnxruntime")` in the product, an import in tests. */
export type OnnxModule = typeof Ort;
export type OnnxSession = Ort.InferenceSession;

/** An opened graph with what its caller needs to feed it. */
export interface OnnxModel {
  /** Which stage the model serves, e.g. `wake model "hey_jarvis"`; starts every error message. */
  role: string;
  path: string;
  session: OnnxSession;
}

export async function openOnnxModel(
  ort: OnnxModule,
  role: string,
  path: string,
  intraOpThreads: number,
): Promise<OnnxModel> {
  if (typeof path !== "string" || path === "")
    throw kianaError("MODEL_NOT_FOUND", `${role}: no model path given`, { role });
  if (!existsSync(path))
    throw kianaError("MODEL_NOT_FOUND", `${role}: model file ${path} does not exist`, { role, path });
  try {
    const session = await ort.InferenceSession.create(path, {
      executionProviders: ["cpu"],
      intraOpNumThreads: intraOpThreads,
      // These graphs are short chains of operators: there is nothing to run side by side.
      interOpNumThreads: 1,
      graphOptimizationLevel: "all",
    });
    return { role, path, session };
  } catch (cause) {
    const msg = `${role}: onnxruntime cannot load ${path}: ${describeError(cause)}`;
    throw kianaError("MODEL_FILE_INVALID", msg, { role, path }, cause);
  }
}

/** Fixed sizes as numbers, symbolic or unknown ones as null. */
export function inputShape(model: OnnxModel, name: string): (number | null)[] | null {
  const meta = model.session.inputMetadata.find((m) => m.name === name);
  if (!meta?.isTensor) return null;
  return meta.shape.map((d) => (typeof d === "number" && d > 0 ? d : null));
}

/**
 * Refuses a model whose one input is not `expected` (null = any size there) or that has no output.
 * Returns the input and first output names, which differ between exports of the same graph.
 */
export function expectSingleInput(
  model: OnnxModel,
  expected: readonly (number | null)[],
): { input: string; output: string } {
  const { session, role, path } = model;
  const input = session.inputNames[0];
  const output = session.outputNames[0];
  const shape = input === undefined ? null : inputShape(model, input);
  const fits =
    session.inputNames.length === 1 &&
    shape !== null &&
    shape.length === expected.length &&
    shape.every((d, i) => d === null || expected[i] === null || d === expected[i]);
  if (input === undefined || output === undefined || !fits) {
    const want = `[${expected.map((d) => d ?? "?").join(", ")}]`;
    const got = session.inputNames.map((n) => `${n} [${(inputShape(model, n) ?? []).map((d) => d ?? "?")}]`);
    throw kianaError(
      "MODEL_FILE_INVALID",
      `${role}: ${path} takes ${got.join(", ") || "no input"}, expected one float32 input ${want}`,
      { role, path },
    );
  }
  return { input, output };
}

/** Releases every session, even when some release fails: they are being thrown away either way. */
export async function releaseAll(models: readonly OnnxModel[]): Promise<void> {
  await Promise.allSettled(models.map((m) => m.session.release()));
}

/** The one check of caller-supplied chunks, shared so that both stages word it the same way. */
export function checkChunk(stage: string, chunk: unknown, samples?: number): Error | null {
  if (!(chunk instanceof Int16Array))
    return new TypeError(`${stage}: chunk must be an Int16Array of 16 kHz s16 samples`);
  if (samples !== undefined && chunk.length !== samples) {
    const ms = (samples / 16).toFixed(0);
    return new RangeError(
      `${stage}: chunk must hold ${samples} samples (${ms} ms at 16 kHz), got ${chunk.length}`,
    );
  }
  return null;
}
