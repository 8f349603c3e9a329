// A released global model as the chain records it (block type `model-release`): what was trained,
// by whom, to which bytes, and how well. Bodies from the chain are other devices' words, so they are
// checked against a schema before anything reads them; the verifier turns a model into a scorer.
import { type Static, Type as T } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import type { ReleaseRecord } from "./coordinator.ts";
import { wakeFeatures } from "./features.ts";
import { checkSpec, type ModelSpec, paramCount, predict } from "./model.ts";

export const MODEL_RELEASE_TYPE = "model-release";

const Fp = T.String({ pattern: "^[0-9a-f]{8,64}$" });
const Ratio = T.Union([T.Number({ minimum: 0, maximum: 1 }), T.Null()]);

export const ReleaseBody = T.Object({
  v: T.Literal(1),
  /** Which on-device model this is: `wake` is the wake-word verifier. */
  task: T.String({ pattern: "^[a-z][a-z0-9-]{0,31}$" }),
  spec: T.Object({
    kind: T.Union([T.Literal("logistic"), T.Literal("mlp")]),
    inputs: T.Integer({ minimum: 1, maximum: 1 << 20 }),
    hidden: T.Integer({ minimum: 0, maximum: 4096 }),
  }),
  round: T.Integer({ minimum: 0 }),
  version: T.Integer({ minimum: 1 }),
  hash: T.String({ pattern: "^[0-9a-f]{64}$" }),
  participants: T.Array(Fp, { maxItems: 1000 }),
  metrics: T.Object({
    accuracyBefore: Ratio,
    examples: T.Number({ minimum: 0 }),
    refused: T.Integer({ minimum: 0 }),
    dropped: T.Integer({ minimum: 0 }),
    secure: T.Boolean(),
    clipNorm: T.Number({ minimum: 0 }),
    noiseMultiplier: T.Number({ minimum: 0 }),
  }),
});
export type ReleaseBody = Static<typeof ReleaseBody>;

/** The block body for a release: small JSON (a round of 10 participants is well under 2 KiB). */
export function releaseBlockBody(task: string, spec: ModelSpec, record: ReleaseRecord): Uint8Array {
  const body: ReleaseBody = {
    v: 1,
    task,
    spec: { kind: spec.kind, inputs: spec.inputs, hidden: spec.kind === "mlp" ? spec.hidden : 0 },
    round: record.round,
    version: record.version,
    hash: record.hash,
    participants: record.participants,
    metrics: record.metrics,
  };
  return new TextEncoder().encode(JSON.stringify(body));
}

/** A release block's text, checked; null for anything that is not a well-formed release. */
export function parseReleaseBody(text: string | undefined): ReleaseBody | null {
  if (text === undefined || text.length > 64 * 1024) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (!Value.Check(ReleaseBody, value) || checkSpec(value.spec) !== null) return null;
  return value;
}

/**
 * The wake-word verifier a released model makes: the probability that an openWakeWord embedding
 * window (16 × 96, as the detector saw it when it fired) holds the wake word rather than a near miss.
 */
export function wakeVerifier(spec: ModelSpec, params: Float32Array): (window: Float32Array) => number {
  if (params.length !== paramCount(spec))
    throw new RangeError(`fedavg: ${params.length} weights for a model of ${paramCount(spec)}`);
  return (window) => predict(spec, params, wakeFeatures(window));
}
