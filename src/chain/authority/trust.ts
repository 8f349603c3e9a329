// Trust in an author's knowledge from other devices' confirm/dispute votes, and search ranking by
// it. Pure: the SQLite state keeps each voter's standing vote per block by `trustDelta` and counts
// only those on knowledge blocks it holds: trust is about knowledge, not checkpoints or votes.
import type { BlockVoteKind } from "./bodies.ts";

export interface TrustCounts {
  /** (voter, block) pairs whose standing vote is confirm. */
  confirms: number;
  disputes: number;
}

/** A confirm/dispute vote: `voter`'s block `voteSeq` names block `seq` of `author`. */
export interface BlockVote {
  voter: string;
  voteSeq: number;
  kind: BlockVoteKind;
  author: string;
  seq: number;
}

export interface StandingVote {
  kind: BlockVoteKind;
  voteSeq: number;
}

/**
 * (1 + confirms) / (2 + confirms + disputes): a Laplace estimate, 0.5 with no votes, moving toward
 * 1 or 0 as votes accumulate, so one vote cannot make an author fully trusted or distrusted.
 */
export function trustScore(c: TrustCounts): number {
  return (1 + c.confirms) / (2 + c.confirms + c.disputes);
}

/**
 * What one vote does to its author's counts, given the voter's standing vote on that block: a
 * voter's latest vote (highest seq in its own log) replaces its earlier one, and a vote on one's own
 * block counts for nothing. Order-independent, so replaying votes in any order gives the same counts.
 */
export function trustDelta(
  standing: StandingVote | undefined,
  vote: BlockVote,
): { replace: boolean; confirms: number; disputes: number } {
  const none = { replace: false, confirms: 0, disputes: 0 };
  if (vote.voter === vote.author) return none;
  if (standing && standing.voteSeq >= vote.voteSeq) return none;
  const delta = { replace: true, confirms: 0, disputes: 0 };
  if (standing?.kind === "confirm") delta.confirms--;
  if (standing?.kind === "dispute") delta.disputes--;
  if (vote.kind === "confirm") delta.confirms++;
  else delta.disputes++;
  return delta;
}

/**
 * Why a standing vote on block `seq` counts for nothing: its target is not a knowledge block, or
 * (type undefined) is not held yet, in which case the vote counts once the block arrives.
 */
export function uncountedReason(seq: number, type: string | undefined): string {
  if (type === undefined) return `block ${seq} is not held yet; the vote counts once it arrives`;
  return `block ${seq} is a ${type} block; only votes on knowledge count toward trust`;
}

/**
 * A search score weighted by trust: score × (0.5 + trust). An unvoted author keeps its score, the
 * most trusted gains at most half again, the most disputed keeps at least half: relevance still
 * leads, trust breaks near-ties. `score` must be non-negative with higher meaning more relevant
 * (negate an FTS5 bm25 value first).
 */
export function trustWeighted(score: number, trust: number): number {
  return score * (0.5 + trust);
}

/** Orders hits by trust-weighted score, highest first; equal weights keep their input order. */
export function rankByTrust<T extends { author: string; score: number }>(
  results: readonly T[],
  trustOf: (author: string) => number,
): T[] {
  const cache = new Map<string, number>();
  const trust = (author: string) => {
    let t = cache.get(author);
    if (t === undefined) {
      t = trustOf(author);
      cache.set(author, t);
    }
    return t;
  };
  return results
    .map((r, i) => ({ r, i, w: trustWeighted(r.score, trust(r.author)) }))
    .sort((a, b) => b.w - a.w || a.i - b.i)
    .map((x) => x.r);
}
