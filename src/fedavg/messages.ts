// What coordinator and clients say to each other. Control messages are small JSON objects checked
// against a schema before anything reads them; models travel as bulk bytes (header + float32) named
// by their sha256 in the control message, so a client adopts only the exact model announced.
import { createHash } from "node:crypto";
import { type Static, Type as T } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";

const Fp = T.String({ pattern: "^[0-9a-f]{8,64}$" });
const U32 = T.Integer({ minimum: 0, maximum: 0xffff_ffff });
const Hex64 = T.String({ pattern: "^[0-9a-f]{64}$" });

export const RoundSettings = T.Object({
  round: U32,
  modelVersion: U32,
  modelHash: Hex64,
  spec: T.Object({
    kind: T.Union([T.Literal("logistic"), T.Literal("mlp")]),
    inputs: T.Integer({ minimum: 1, maximum: 1 << 20 }),
    hidden: T.Integer({ minimum: 0, maximum: 4096 }),
  }),
  minClients: T.Integer({ minimum: 1, maximum: 10_000 }),
  maxClients: T.Integer({ minimum: 1, maximum: 10_000 }),
  /** Wall-clock ms by which updates must have arrived. */
  deadlineAt: T.Integer({ minimum: 0 }),
  epochs: T.Integer({ minimum: 1, maximum: 100 }),
  batchSize: T.Integer({ minimum: 1, maximum: 4096 }),
  learningRate: T.Number({ exclusiveMinimum: 0, maximum: 10 }),
  optimizer: T.Union([T.Literal("sgd"), T.Literal("adam")]),
  clipNorm: T.Number({ exclusiveMinimum: 0, maximum: 1e6 }),
  encoding: T.Union([T.Literal("float32"), T.Literal("int8")]),
  /** Values per int8 scale. */
  chunk: T.Integer({ minimum: 16, maximum: 65_536 }),
  maxExamples: T.Integer({ minimum: 1, maximum: 1_000_000 }),
  secure: T.Boolean(),
  fixedPointScale: T.Number({ exclusiveMinimum: 0 }),
  /** Gaussian noise multiplier z (0: no differential privacy). */
  noiseMultiplier: T.Number({ minimum: 0, maximum: 100 }),
});
export type RoundSettings = Static<typeof RoundSettings>;

const Control = T.Union([
  T.Object({ t: T.Literal("announce"), settings: RoundSettings }),
  T.Object({ t: T.Literal("join"), round: U32 }),
  T.Object({ t: T.Literal("cohort"), round: U32, members: T.Array(Fp, { maxItems: 10_000 }) }),
  T.Object({ t: T.Literal("reveal-request"), round: U32, dropped: T.Array(Fp, { maxItems: 10_000 }) }),
  T.Object({
    t: T.Literal("reveal"),
    round: U32,
    seeds: T.Array(T.Object({ fp: Fp, seed: Hex64 }), { maxItems: 10_000 }),
  }),
  T.Object({ t: T.Literal("release"), round: U32, modelVersion: U32, modelHash: Hex64 }),
  T.Object({ t: T.Literal("refused"), round: U32, reason: T.String({ maxLength: 500 }) }),
]);
export type ControlMessage = Static<typeof Control>;

/** Control messages are tiny; anything larger is refused before JSON.parse sees it. */
export const MAX_CONTROL_BYTES = 64 * 1024;
const utf8 = new TextEncoder();
const utf8d = new TextDecoder("utf-8", { fatal: true });

export function encodeControl(m: ControlMessage): Uint8Array {
  return utf8.encode(JSON.stringify(m));
}

export function decodeControl(
  bytes: Uint8Array,
): { ok: true; msg: ControlMessage } | { ok: false; reason: string } {
  if (bytes.length > MAX_CONTROL_BYTES)
    return { ok: false, reason: `control message of ${bytes.length} bytes` };
  let value: unknown;
  try {
    value = JSON.parse(utf8d.decode(bytes));
  } catch {
    return { ok: false, reason: "control message is not UTF-8 JSON" };
  }
  if (!Value.Check(Control, value)) {
    const first = Value.Errors(Control, value).First();
    return {
      ok: false,
      reason: `control message invalid${first ? ` at ${first.path}: ${first.message}` : ""}`,
    };
  }
  return { ok: true, msg: value };
}

const MODEL_MAGIC = 0x314d464b; // "KFM1" read little-endian
const MODEL_HEADER = 12;

/** A model on the wire: magic, version, weight count, then float32 weights. */
export function encodeModel(version: number, params: Float32Array): Uint8Array {
  const out = new Uint8Array(MODEL_HEADER + params.byteLength);
  const v = new DataView(out.buffer);
  v.setUint32(0, MODEL_MAGIC, true);
  v.setUint32(4, version, true);
  v.setUint32(8, params.length, true);
  out.set(new Uint8Array(params.buffer, params.byteOffset, params.byteLength), MODEL_HEADER);
  return out;
}

export function isModelBytes(bytes: Uint8Array): boolean {
  return (
    bytes.length >= MODEL_HEADER &&
    new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true) === MODEL_MAGIC
  );
}

export function decodeModel(
  bytes: Uint8Array,
  expectParams: number,
): { ok: true; version: number; params: Float32Array } | { ok: false; reason: string } {
  if (!isModelBytes(bytes)) return { ok: false, reason: "not a FedAvg model" };
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = v.getUint32(8, true);
  if (n !== expectParams) return { ok: false, reason: `model has ${n} weights, expected ${expectParams}` };
  if (bytes.length !== MODEL_HEADER + 4 * n)
    return { ok: false, reason: "model length does not match its header" };
  const params = new Float32Array(n);
  new Uint8Array(params.buffer).set(bytes.subarray(MODEL_HEADER));
  if (!params.every(Number.isFinite)) return { ok: false, reason: "model has a weight that is not finite" };
  return { ok: true, version: v.getUint32(4, true), params };
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
