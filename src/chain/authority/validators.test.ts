// Validator-set transitions as pure rules: majority, standing votes, non-validators, removals.
import { describe, expect, test } from "bun:test";
import type { ValidatorVoteKind } from "./bodies.ts";
import {
  applyTallies,
  genesisValidators,
  majority,
  nextValidators,
  type TransitionVotes,
  tallyTransition,
} from "./validators.ts";

const fp = (c: string) => c.repeat(32);
const [A, B, C, D, E] = ["a", "b", "c", "d", "e"].map(fp) as [string, string, string, string, string];

interface Vote {
  voter: string;
  seq: number;
  kind: ValidatorVoteKind;
  validator: string;
}

/**
 * An in-memory vote source: each voter's log is covered up to `before[voter]` by the previous
 * checkpoint and `now[voter]` by the new one; `changedAt[validator]` is where its range starts.
 */
function source(
  votes: Vote[],
  before: Record<string, number>,
  now: Record<string, number>,
  changedAt: Record<string, Record<string, number>> = {},
): TransitionVotes {
  const mine = (voter: string, from: number, to: number) =>
    votes.filter((v) => v.voter === voter && v.seq >= from && v.seq < to);
  return {
    newTargets: (voter) => mine(voter, before[voter] ?? 0, now[voter] ?? 0).map((v) => v.validator),
    latest: (voter, validator) =>
      mine(voter, changedAt[validator]?.[voter] ?? 0, now[voter] ?? 0)
        .filter((v) => v.validator === validator)
        .at(-1)?.kind,
  };
}

test("majority is more than half of the set", () => {
  expect([1, 2, 3, 4, 5, 6, 7].map(majority)).toEqual([1, 2, 2, 3, 3, 4, 4]);
});

test("genesis is the configured set, sorted and unique, or this device alone", () => {
  expect(genesisValidators([C, A, C, B], D)).toEqual([A, B, C]);
  expect(genesisValidators([], D)).toEqual([D]);
});

describe("one transition", () => {
  const set = [A, B, C];
  const add = (voter: string, seq: number, validator = D): Vote => ({
    voter,
    seq,
    kind: "add-validator",
    validator,
  });
  const remove = (voter: string, seq: number, validator: string): Vote => ({
    voter,
    seq,
    kind: "remove-validator",
    validator,
  });

  test("an add voted by a majority of the current set is applied", () => {
    const votes = source([add(A, 0), add(B, 3)], {}, { [A]: 1, [B]: 4 });
    expect(nextValidators(set, votes)).toEqual({
      validators: [A, B, C, D],
      changes: [{ kind: "add-validator", validator: D }],
    });
  });

  test("an add voted by one of three is not applied, and still counts at the next checkpoint", () => {
    const first = source([add(A, 0)], {}, { [A]: 1 });
    expect(nextValidators(set, first).validators).toEqual(set);
    // B votes later; A's vote is still standing because D's membership has not changed since.
    const second = source([add(A, 0), add(B, 5)], { [A]: 1, [B]: 0 }, { [A]: 1, [B]: 6 });
    expect(tallyTransition(set, second)).toEqual([{ kind: "add-validator", validator: D, votes: 2 }]);
    expect(nextValidators(set, second).validators).toEqual([A, B, C, D]);
  });

  test("a voter's later opposite vote withdraws its earlier one", () => {
    const votes = source([add(A, 0), add(B, 0), remove(B, 1, D)], {}, { [A]: 1, [B]: 2 });
    expect(nextValidators(set, votes).validators).toEqual(set);
  });

  test("votes by devices outside the set count for nothing", () => {
    const votes = source([add(A, 0), add(D, 0, E), add(E, 0, E)], {}, { [A]: 1, [D]: 1, [E]: 1 });
    expect(tallyTransition(set, votes)).toEqual([{ kind: "add-validator", validator: D, votes: 1 }]);
    expect(nextValidators(set, votes).validators).toEqual(set);
  });

  test("a remove by a majority is applied; the last validator is never removed", () => {
    const votes = source([remove(A, 0, C), remove(B, 0, C)], {}, { [A]: 1, [B]: 1 });
    expect(nextValidators(set, votes).validators).toEqual([A, B]);
    const alone = source([remove(A, 0, A)], {}, { [A]: 1 });
    expect(nextValidators([A], alone)).toEqual({ validators: [A], changes: [] });
  });

  test("changes that change nothing are not reported", () => {
    expect(applyTallies(set, [{ kind: "add-validator", validator: A, votes: 3 }]).changes).toEqual([]);
    expect(applyTallies(set, [{ kind: "remove-validator", validator: D, votes: 3 }]).changes).toEqual([]);
  });

  test("passed changes apply in kind-then-fingerprint order whatever the tally order", () => {
    const tallies = [
      { kind: "remove-validator" as const, validator: B, votes: 2 },
      { kind: "add-validator" as const, validator: E, votes: 2 },
      { kind: "remove-validator" as const, validator: A, votes: 2 },
      { kind: "add-validator" as const, validator: D, votes: 2 },
    ];
    const expected: ReturnType<typeof applyTallies> = {
      validators: [C, D, E],
      changes: [
        { kind: "add-validator", validator: D },
        { kind: "add-validator", validator: E },
        { kind: "remove-validator", validator: A },
        { kind: "remove-validator", validator: B },
      ],
    };
    expect(applyTallies(set, tallies)).toEqual(expected);
    expect(applyTallies(set, [...tallies].reverse())).toEqual(expected);
  });

  test("majority is judged against the set before this transition's changes", () => {
    // Two of four is not a majority even though D is removed in the same transition.
    const tallies = [
      { kind: "remove-validator" as const, validator: D, votes: 3 },
      { kind: "add-validator" as const, validator: E, votes: 2 },
    ];
    expect(applyTallies([A, B, C, D], tallies).validators).toEqual([A, B, C]);
  });
});
