// The hub's side of a round: announce (settings + global model) → clients join → cohort fixed (at
// maxClients or when the join window closes) → updates collected until all arrived or the deadline →
// masks of dropped clients removed (secure aggregation) → the averaged model released to every
// device, with a record for the chain. Time comes from the Clock, so tests drive deadlines.
import type { Clock } from "../platform/clock.ts";
import { type Aggregator, createAggregator } from "./aggregator.ts";
import {
  type ControlMessage,
  decodeControl,
  encodeControl,
  encodeModel,
  type RoundSettings,
  sha256Hex,
} from "./messages.ts";
import { paramCount } from "./model.ts";
import type { FedavgTransport } from "./ports.ts";
import { maskSign } from "./secure-agg.ts";
import { encodedBytes, type UpdateSource } from "./update-codec.ts";

/** What the chain records of a released model (block type `model-release`). */
export interface ReleaseRecord {
  round: number;
  /** The released model's version: the round's modelVersion + 1. */
  version: number;
  /** sha256 of the released model bytes (encodeModel). */
  hash: string;
  participants: string[];
  metrics: {
    /** Example-weighted accuracy of the incoming model on the participants' own data. */
    accuracyBefore: number | null;
    examples: number;
    refused: number;
    dropped: number;
    secure: boolean;
    clipNorm: number;
    noiseMultiplier: number;
  };
}

export type RoundPhase = "joining" | "collecting" | "unmasking" | "released" | "failed";

export interface RoundStatus {
  round: number;
  phase: RoundPhase;
  invited: number;
  cohort: string[];
  accepted: string[];
  refusals: { from: string; reason: string }[];
  failure?: string;
  release?: ReleaseRecord;
}

export interface CoordinatorOptions {
  transport: FedavgTransport;
  clock: Clock;
  /** How long clients have to join after the announcement. Default 10 s. */
  joinMs?: number;
  /** How long survivors have to reveal seeds for dropped clients. Default 10 s. */
  revealMs?: number;
  onRelease?(record: ReleaseRecord, params: Float32Array): void;
}

export interface Coordinator {
  /** Runs one round; resolves when it is released or failed. */
  runRound(
    settings: Omit<RoundSettings, "modelHash">,
    global: Float32Array,
    invite: readonly string[],
  ): Promise<RoundStatus>;
  /** Every round so far, newest last (the admin page and `kiana fedavg status`). */
  history(): readonly RoundStatus[];
  stop(): void;
}

export function createCoordinator(opts: CoordinatorOptions): Coordinator {
  const { transport, clock } = opts;
  const rounds: RoundStatus[] = [];
  let active: ((from: string, m: ControlMessage | null, bulk?: UpdateSource) => void) | null = null;
  const unlisten = transport.listen({
    control(from, bytes) {
      const d = decodeControl(bytes);
      active?.(from, d.ok ? d.msg : null);
    },
    bulk(from, source) {
      active?.(from, null, source);
    },
  });
  const send = (to: string, m: ControlMessage) => transport.send(to, encodeControl(m)).catch(() => undefined);

  function runRound(
    partial: Omit<RoundSettings, "modelHash">,
    global: Float32Array,
    invite: readonly string[],
  ) {
    if (active) return Promise.reject(new Error("fedavg: a round is already running"));
    const P = paramCount(partial.spec);
    if (global.length !== P)
      return Promise.reject(new RangeError(`fedavg: ${global.length} weights for a model of ${P}`));
    const modelBytes = encodeModel(partial.modelVersion, global);
    const s: RoundSettings = { ...partial, modelHash: sha256Hex(modelBytes) };
    const status: RoundStatus = {
      round: s.round,
      phase: "joining",
      invited: invite.length,
      cohort: [],
      accepted: [],
      refusals: [],
    };
    rounds.push(status);
    const encoding = s.secure ? "masked" : s.encoding;
    const agg: Aggregator = createAggregator({
      round: s.round,
      modelVersion: s.modelVersion,
      params: P,
      encodings: [encoding],
      maxExamples: s.maxExamples,
      maxBytes: encodedBytes({ encoding, params: P, chunk: s.chunk }),
      // DP noise is added after clipping, so a noisy update's norm is not bounded by the clip.
      clipNorm: s.noiseMultiplier > 0 ? undefined : s.clipNorm,
      fixedPointScale: s.fixedPointScale,
    });
    const joined = new Set<string>();
    const revealed = new Set<string>();
    let dropped: string[] = [];
    let cancel = () => {};
    let busy: Promise<unknown> = Promise.resolve();

    return new Promise<RoundStatus>((resolve) => {
      const end = (phase: "released" | "failed", failure?: string) => {
        cancel();
        status.phase = phase;
        if (failure) status.failure = failure;
        active = null;
        resolve(status);
      };
      const refuse = (from: string, reason: string) => {
        status.refusals.push({ from, reason });
        void send(from, { t: "refused", round: s.round, reason });
      };
      const closeJoin = () => {
        cancel();
        if (joined.size < s.minClients)
          return end("failed", `only ${joined.size} of ${s.minClients} clients joined`);
        status.cohort = [...joined];
        status.phase = "collecting";
        for (const c of status.cohort) void send(c, { t: "cohort", round: s.round, members: status.cohort });
        cancel = clock.setTimeout(() => void busy.then(finish), Math.max(0, s.deadlineAt - clock.now()));
      };
      const finish = () => {
        if (status.phase !== "collecting") return;
        cancel();
        if (status.accepted.length < s.minClients)
          return end("failed", `only ${status.accepted.length} of ${s.minClients} updates arrived in time`);
        dropped = status.cohort.filter((c) => !status.accepted.includes(c));
        if (!s.secure || dropped.length === 0) return release();
        status.phase = "unmasking";
        for (const c of status.accepted) void send(c, { t: "reveal-request", round: s.round, dropped });
        cancel = clock.setTimeout(
          () => end("failed", "survivors did not reveal the dropped clients' seeds"),
          opts.revealMs ?? 10_000,
        );
      };
      const release = () => {
        const { mean, weight } = agg.result();
        const next = new Float32Array(P);
        for (let i = 0; i < P; i++) next[i] = (global[i] ?? 0) + (mean[i] ?? 0);
        const bytes = encodeModel(s.modelVersion + 1, next);
        const record: ReleaseRecord = {
          round: s.round,
          version: s.modelVersion + 1,
          hash: sha256Hex(bytes),
          participants: [...status.accepted],
          metrics: {
            accuracyBefore: agg.evaluation.count > 0 ? agg.evaluation.correct / agg.evaluation.count : null,
            examples: weight,
            refused: status.refusals.length,
            dropped: dropped.length,
            secure: s.secure,
            clipNorm: s.clipNorm,
            noiseMultiplier: s.noiseMultiplier,
          },
        };
        status.release = record;
        // Every invited device gets the model, not only those that trained this round.
        const msg: ControlMessage = {
          t: "release",
          round: s.round,
          modelVersion: record.version,
          modelHash: record.hash,
        };
        for (const c of new Set([...invite, ...status.cohort])) {
          void send(c, msg);
          void transport.sendBulk(c, bytes).catch(() => undefined);
        }
        opts.onRelease?.(record, next);
        end("released");
      };

      active = (from, m, bulk) => {
        if (bulk) {
          if (status.phase !== "collecting" || !status.cohort.includes(from))
            return refuse(from, `no update expected from this device now (round ${status.phase})`);
          // One update at a time: the aggregator's two passes must not interleave with another's.
          busy = busy.then(async () => {
            if (status.phase !== "collecting") return;
            const res = await agg.add(from, bulk);
            if (!res.ok) return refuse(from, res.reason);
            status.accepted.push(from);
            if (status.accepted.length === status.cohort.length) finish();
          });
          return;
        }
        if (!m) return;
        if (m.t === "join" && m.round === s.round && status.phase === "joining" && invite.includes(from)) {
          joined.add(from);
          if (joined.size >= s.maxClients) closeJoin();
        } else if (
          m.t === "reveal" &&
          m.round === s.round &&
          status.phase === "unmasking" &&
          status.accepted.includes(from) &&
          !revealed.has(from)
        ) {
          const seeds = new Map(m.seeds.map((x) => [x.fp, x.seed]));
          if (!dropped.every((d) => seeds.has(d)))
            return refuse(from, "reveal does not cover every dropped client");
          revealed.add(from);
          for (const d of dropped) agg.unmask(Buffer.from(seeds.get(d) as string, "hex"), maskSign(from, d));
          if (revealed.size === status.accepted.length) release();
        }
      };
      for (const c of invite) {
        void send(c, { t: "announce", settings: s });
        void transport.sendBulk(c, modelBytes).catch(() => undefined);
      }
      cancel = clock.setTimeout(closeJoin, opts.joinMs ?? 10_000);
    });
  }

  return {
    runRound,
    history: () => rounds,
    stop() {
      unlisten();
    },
  };
}
