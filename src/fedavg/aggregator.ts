// Streaming FedAvg: updates are folded into running sums one at a time, so the coordinator's memory
// is O(model) (a Float64Array of sums, or a Uint32Array for masked updates) however many clients a
// round has. Each update is read twice: a first pass validates it (shape, finiteness, norm) without
// touching the sums, the second accumulates, so a bad update found late cannot poison the round.
import { applyMask, fromFixedPoint } from "./secure-agg.ts";
import {
  createReadScratch,
  HEADER_BYTES,
  readUpdate,
  type UpdateExpectation,
  type UpdateHeader,
  type UpdateSource,
} from "./update-codec.ts";

export interface AggregatorOptions extends UpdateExpectation {
  /** Clip norm the round announced; a plain update whose norm exceeds it (with quantisation slack) is refused. */
  clipNorm?: number;
  /** Fixed-point scale of masked updates (secure aggregation). */
  fixedPointScale?: number;
}

export type AddResult = { ok: true; header: UpdateHeader } | { ok: false; reason: string };

export interface Aggregator {
  /** Validates then folds in one client's update; a refusal leaves the sums as they were. */
  add(from: string, source: UpdateSource): Promise<AddResult>;
  /** Removes a dropped client's pairwise mask with a survivor: −sign × keystream(seed), mod 2^32. */
  unmask(seed: Uint8Array, survivorSign: 1 | -1): void;
  /** Clients whose updates were accepted, in order. */
  readonly clients: readonly string[];
  /** Σ evalCorrect and Σ evalCount the clients reported for the incoming model. */
  readonly evaluation: { correct: number; count: number };
  /**
   * The example-weighted mean update and the total weight. Ends the aggregator: the mean is written
   * over the sums' own memory (no third array of P values), so later adds are refused.
   */
  result(): { mean: Float32Array; weight: number };
}

export function createAggregator(opts: AggregatorOptions): Aggregator {
  const masked = opts.encodings.includes("masked");
  if (masked && opts.encodings.length !== 1)
    throw new RangeError("aggregator: masked updates cannot mix with plain ones");
  if (masked && !(opts.fixedPointScale && opts.fixedPointScale > 0))
    throw new RangeError("aggregator: masked updates need a fixed-point scale");
  const sums = masked ? null : new Float64Array(opts.params);
  const masks = masked ? new Uint32Array(opts.params + 1) : null;
  let weight = 0;
  const clients: string[] = [];
  const evaluation = { correct: 0, count: 0 };
  let final: { mean: Float32Array; weight: number } | null = null;
  const scratch = createReadScratch();

  async function validate(source: UpdateSource): Promise<AddResult> {
    let sq = 0;
    // Per-value rounding error of int8 is at most half its chunk's scale: allowed on top of the clip.
    let slack = 0;
    const res = await readUpdate(
      source,
      opts,
      (_offset, block) => {
        if (block instanceof Float32Array) for (let i = 0; i < block.length; i++) sq += (block[i] ?? 0) ** 2;
      },
      scratch,
    );
    if (!res.ok || masked || opts.clipNorm === undefined) return res;
    if (res.header.encoding === "int8") slack = await int8Slack(source, res.header);
    const norm = Math.sqrt(sq);
    if (norm > opts.clipNorm * (1 + 1e-4) + slack)
      return {
        ok: false,
        reason: `update norm ${norm.toFixed(4)} exceeds the round's clip ${opts.clipNorm}`,
      };
    return res;
  }

  return {
    clients,
    evaluation,
    async add(from, source) {
      if (clients.includes(from))
        return { ok: false, reason: "an update from this client was already accepted" };
      const checked = await validate(source);
      if (!checked.ok) return checked;
      const w = checked.header.examples;
      const res = await readUpdate(
        source,
        opts,
        (offset, block) => {
          if (masks) {
            for (let i = 0; i < block.length; i++)
              masks[offset + i] = ((masks[offset + i] ?? 0) + (block[i] ?? 0)) >>> 0;
          } else if (sums) {
            for (let i = 0; i < block.length; i++)
              sums[offset + i] = (sums[offset + i] ?? 0) + w * (block[i] ?? 0);
          }
        },
        scratch,
      );
      // The first pass read the same bytes; a source that changes between reads is a broken adapter.
      if (!res.ok) throw new Error(`aggregator: update from ${from} changed between validation and use`);
      weight += w;
      clients.push(from);
      evaluation.correct += checked.header.evalCorrect;
      evaluation.count += checked.header.evalCount;
      return checked;
    },
    unmask(seed, survivorSign) {
      if (!masks) throw new Error("aggregator: unmask on a round without secure aggregation");
      if (final) throw new Error("aggregator: unmask after the average was taken");
      applyMask(masks, seed, survivorSign === 1 ? -1 : 1);
    },
    result() {
      if (final) return final;
      if (masks) {
        final = fromFixedPoint(masks, opts.fixedPointScale as number);
        return final;
      }
      const s64 = sums as Float64Array;
      // In place, front to back: float32 slot i overlaps float64 slot ⌊i/2⌋ ≤ i, which is already read.
      const mean = new Float32Array(s64.buffer, 0, opts.params);
      for (let i = 0; i < opts.params; i++) mean[i] = weight > 0 ? (s64[i] ?? 0) / weight : 0;
      final = { mean, weight };
      return final;
    },
  };
}

/** √(Σ chunk·(scale/2)²): the largest norm int8 rounding alone can add. Reads the scales once more. */
async function int8Slack(source: UpdateSource, h: UpdateHeader): Promise<number> {
  const n = Math.ceil(h.params / h.chunk);
  const bytes = new Uint8Array(4 * n);
  let fill = 0;
  let skip = HEADER_BYTES;
  const chunks = source instanceof Uint8Array ? [source] : source.chunks();
  for await (const c of chunks) {
    let at = Math.min(skip, c.length);
    skip -= at;
    while (at < c.length && fill < bytes.length) {
      const take = Math.min(bytes.length - fill, c.length - at);
      bytes.set(c.subarray(at, at + take), fill);
      fill += take;
      at += take;
    }
    if (fill === bytes.length) break;
  }
  const scales = new Float32Array(bytes.buffer);
  let s = 0;
  for (let c = 0; c < n; c++) s += Math.min(h.chunk, h.params - c * h.chunk) * ((scales[c] ?? 0) / 2) ** 2;
  return Math.sqrt(s);
}
