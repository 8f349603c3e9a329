// Checkpoint finality and fork choice at one height, as pure rules over the proposals and
// endorsements seen there: every device that holds the same blocks picks the same checkpoint.
import type { Head } from "./bodies.ts";
import { majority } from "./validators.ts";

export interface ProposalInfo {
  /** hex leaf hash of the proposal block */
  id: string;
  height: number;
  /** id of the final checkpoint it builds on */
  prev: string;
  proposer: string;
  ts: number;
  heads: readonly Head[];
}

export interface EndorsementInfo {
  endorser: string;
  /** id of the proposal it endorses */
  checkpoint: string;
}

export interface Candidate {
  id: string;
  height: number;
  proposer: string;
  ts: number;
  heads: number;
  /** The proposer plus the distinct, non-equivocating validators that endorsed it. */
  signers: number;
  final: boolean;
  inTurn: boolean;
}

export interface HeightInput {
  height: number;
  /** The validator set in force at `height`. */
  validators: readonly string[];
  /** id of the chosen final checkpoint at height - 1 (ZERO_ID at height 1). */
  prevId: string;
  /** Its heads; a proposal must not go back on any of them. */
  prevHeads: readonly Head[];
  proposals: readonly ProposalInfo[];
  /** Endorsements naming any checkpoint at `height`, so equivocation is seen whatever they name. */
  endorsements: readonly EndorsementInfo[];
}

export interface HeightOutcome {
  /** Valid proposals on the chosen branch, best first: ranked[0] is the fork choice. */
  ranked: Candidate[];
  /** Validators that endorsed two different proposals at this height, sorted. */
  equivocators: string[];
}

/** Whose turn it is to propose `height`: validators take turns in fingerprint order. */
export function inTurnProposer(validators: readonly string[], height: number): string | undefined {
  const sorted = [...validators].sort();
  return sorted[height % Math.max(sorted.length, 1)];
}

/**
 * Heads only move forward: every log the previous checkpoint recorded is recorded again, at least
 * as long (and with the same root at the same length). This is what lets a vote be "covered" by the
 * first checkpoint whose head passes it, once and for all.
 */
export function headsExtend(prevHeads: readonly Head[], heads: readonly Head[]): boolean {
  const byAuthor = new Map(heads.map((h) => [h.author, h]));
  return prevHeads.every((p) => {
    const h = byAuthor.get(p.author);
    return h !== undefined && h.length >= p.length && (h.length > p.length || h.root === p.root);
  });
}

/** Final beats non-final, then more signers, then the in-turn proposer, then the lowest id. */
export function compareCandidates(a: Candidate, b: Candidate): number {
  if (a.final !== b.final) return a.final ? -1 : 1;
  if (a.signers !== b.signers) return b.signers - a.signers;
  if (a.inTurn !== b.inTurn) return a.inTurn ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * Signers and finality of each proposal at one height, and the fork choice among them. Proposals
 * by non-validators, on another branch (other prev) or going back on a head are ignored; so are
 * endorsements by non-validators, and both endorsements of a validator that endorsed two proposals.
 */
export function rankHeight(input: HeightInput): HeightOutcome {
  const members = new Set(input.validators);
  const need = majority(members.size);
  const turn = inTurnProposer(input.validators, input.height);

  const endorsed = new Map<string, Set<string>>();
  for (const e of input.endorsements) {
    if (!members.has(e.endorser)) continue;
    const ids = endorsed.get(e.endorser) ?? new Set<string>();
    ids.add(e.checkpoint);
    endorsed.set(e.endorser, ids);
  }
  const equivocators = [...endorsed].filter(([, ids]) => ids.size > 1).map(([fp]) => fp);
  const signersOf = new Map<string, Set<string>>();
  for (const [endorser, ids] of endorsed) {
    const [id] = [...ids];
    if (ids.size !== 1 || id === undefined) continue;
    const set = signersOf.get(id) ?? new Set<string>();
    set.add(endorser);
    signersOf.set(id, set);
  }

  const seen = new Set<string>();
  const ranked: Candidate[] = [];
  for (const p of input.proposals) {
    if (seen.has(p.id) || p.height !== input.height || p.prev !== input.prevId) continue;
    if (!members.has(p.proposer) || !headsExtend(input.prevHeads, p.heads)) continue;
    seen.add(p.id);
    const signers = new Set(signersOf.get(p.id));
    signers.add(p.proposer);
    ranked.push({
      id: p.id,
      height: p.height,
      proposer: p.proposer,
      ts: p.ts,
      heads: p.heads.length,
      signers: signers.size,
      final: signers.size >= need,
      inTurn: p.proposer === turn,
    });
  }
  ranked.sort(compareCandidates);
  return { ranked, equivocators: equivocators.sort() };
}
