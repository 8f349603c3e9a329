// What the admin page, its JSON API and `kiana fedavg status` show about federated training: plain
// values built from the coordinator's rounds (on the hub) and the chain's model-release blocks (on
// every device, since the chain syncs), so each device can show the fleet's training history.
import type { RoundPhase, RoundStatus } from "./coordinator.ts";
import type { ModelSpec } from "./model.ts";
import { MODEL_RELEASE_TYPE, parseReleaseBody, type ReleaseBody } from "./release.ts";

/** One round as the coordinator ran it. */
export interface RoundRow {
  round: number;
  phase: RoundPhase;
  startedAt: number;
  endedAt: number | null;
  invited: number;
  cohort: number;
  participants: string[];
  examples: number | null;
  /** Accuracy of the round's incoming model on the participants' own examples, before training. */
  accuracyBefore: number | null;
  version: number | null;
  hash: string | null;
  refusals: { from: string; reason: string }[];
  dropped: number;
  failure: string | null;
}

/** One release as the chain recorded it. */
export interface ReleaseRow extends ReleaseBody {
  author: string;
  seq: number;
  ts: number;
}

export interface FedavgView {
  enabled: boolean;
  /** coordinator on the hub, client on nodes and satellites. */
  role: "coordinator" | "client";
  /** Whether the mesh is joined and FedAvg talks over it. */
  ready: boolean;
  task: string;
  spec: ModelSpec;
  /** The global model this device holds (the verifier uses it). */
  model: { version: number; hash: string } | null;
  /** This device's own training examples for the task. */
  examples: { positive: number; negative: number };
  /** Client: the coordinator's fingerprint, once the roster names a hub. */
  coordinator: string | null;
  /** Hub: every round since start and before (persisted), newest last. */
  rounds: RoundRow[];
  /** The newest releases on the chain, newest first. */
  releases: ReleaseRow[];
}

export function roundRow(s: RoundStatus, startedAt: number, endedAt: number | null): RoundRow {
  const r = s.release;
  return {
    round: s.round,
    phase: s.phase,
    startedAt,
    endedAt,
    invited: s.invited,
    cohort: s.cohort.length,
    participants: r?.participants ?? s.accepted,
    examples: r?.metrics.examples ?? null,
    accuracyBefore: r?.metrics.accuracyBefore ?? null,
    version: r?.version ?? null,
    hash: r?.hash ?? null,
    refusals: s.refusals.slice(0, 20),
    dropped: r?.metrics.dropped ?? 0,
    failure: s.failure ?? null,
  };
}

/** Release rows from listed chain blocks; blocks that are not well-formed releases are skipped. */
export function releaseRows(
  blocks: readonly { author: string; seq: number; ts: number; type: string; text?: string }[],
): ReleaseRow[] {
  const out: ReleaseRow[] = [];
  for (const b of blocks) {
    if (b.type !== MODEL_RELEASE_TYPE) continue;
    const body = parseReleaseBody(b.text);
    if (body) out.push({ ...body, author: b.author, seq: b.seq, ts: b.ts });
  }
  return out;
}
