// The validator set and how votes change it, as pure rules. Votes come through lookups, so the
// caller (the replay over SQLite) never has to hold a whole vote history in memory.
import type { ValidatorVoteKind } from "./bodies.ts";

/** Signatures a checkpoint needs, and votes a change needs, in a set of `n`: more than half. */
export function majority(n: number): number {
  return Math.floor(n / 2) + 1;
}

const sortedUnique = (fps: Iterable<string>) => [...new Set(fps)].sort();

/**
 * The set for height 1: the configured fingerprints, or this device alone when none are configured,
 * so a fleet of one finalises its own checkpoints without any setup.
 */
export function genesisValidators(configured: readonly string[], self: string): string[] {
  return configured.length > 0 ? sortedUnique(configured) : [self];
}

export interface ValidatorChange {
  kind: ValidatorVoteKind;
  validator: string;
}

export interface ValidatorTally extends ValidatorChange {
  /** Distinct current validators whose standing vote on `validator` is `kind`. */
  votes: number;
}

/** Where one transition's votes come from; every answer is about the voter's own log. */
export interface TransitionVotes {
  /** Validators named in `voter`'s votes that the new final checkpoint covers for the first time. */
  newTargets(voter: string): Iterable<string>;
  /**
   * `voter`'s latest vote on `validator` among those covered since that validator last joined or
   * left the set (up to and including the new checkpoint), or undefined.
   */
  latest(voter: string, validator: string): ValidatorVoteKind | undefined;
}

/**
 * Tallies, for each validator named by a newly covered vote, the standing votes of the current set.
 * A vote stays standing across checkpoints until its change is applied or the voter votes the
 * other way, so validators need not vote within one checkpoint interval. Only members of `current`
 * are asked, which is what makes votes by non-validators count for nothing.
 */
export function tallyTransition(current: readonly string[], votes: TransitionVotes): ValidatorTally[] {
  const targets = new Set<string>();
  for (const voter of current) for (const target of votes.newTargets(voter)) targets.add(target);
  const tallies: ValidatorTally[] = [];
  for (const validator of [...targets].sort()) {
    let adds = 0;
    let removes = 0;
    for (const voter of current) {
      const kind = votes.latest(voter, validator);
      if (kind === "add-validator") adds++;
      else if (kind === "remove-validator") removes++;
    }
    if (adds > 0) tallies.push({ kind: "add-validator", validator, votes: adds });
    if (removes > 0) tallies.push({ kind: "remove-validator", validator, votes: removes });
  }
  return tallies;
}

const byKindThenFingerprint = (a: ValidatorChange, b: ValidatorChange) =>
  a.kind < b.kind
    ? -1
    : a.kind > b.kind
      ? 1
      : a.validator < b.validator
        ? -1
        : a.validator > b.validator
          ? 1
          : 0;

/**
 * Applies every tally that reaches a majority of `current` (the set before any of these changes),
 * in kind-then-fingerprint order so every device lands on the same set. Changes that would change
 * nothing, and removing the last validator, are skipped.
 */
export function applyTallies(
  current: readonly string[],
  tallies: readonly ValidatorTally[],
): { validators: string[]; changes: ValidatorChange[] } {
  const need = majority(current.length);
  const set = new Set(current);
  const changes: ValidatorChange[] = [];
  const passed = tallies.filter((t) => t.votes >= need).sort(byKindThenFingerprint);
  for (const { kind, validator } of passed) {
    if (kind === "add-validator" && !set.has(validator)) set.add(validator);
    else if (kind === "remove-validator" && set.has(validator) && set.size > 1) set.delete(validator);
    else continue;
    changes.push({ kind, validator });
  }
  return { validators: [...set].sort(), changes };
}

/** The set for the height after a final checkpoint, from the set that checkpoint was final under. */
export function nextValidators(
  current: readonly string[],
  votes: TransitionVotes,
): { validators: string[]; changes: ValidatorChange[] } {
  return applyTallies(current, tallyTransition(current, votes));
}
