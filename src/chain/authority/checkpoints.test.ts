// Finality with one to four validators, fork choice among competing proposals whatever their
// order, equivocation, and heads that must only move forward.
import { describe, expect, test } from "bun:test";
import { seededRandom } from "../../identity/test-fleet.test-helper.ts";
import { type Head, ZERO_ID } from "./bodies.ts";
import {
  type EndorsementInfo,
  type HeightInput,
  headsExtend,
  inTurnProposer,
  type ProposalInfo,
  rankHeight,
} from "./checkpoints.ts";

const fp = (c: string) => c.repeat(32);
const [A, B, C, D, X] = ["a", "b", "c", "d", "9"].map(fp) as [string, string, string, string, string];
const id = (c: string) => c.repeat(64);
const PREV = id("e");

const proposal = (pid: string, proposer: string, patch: Partial<ProposalInfo> = {}): ProposalInfo => ({
  id: pid,
  height: 5,
  prev: PREV,
  proposer,
  ts: 1,
  heads: [],
  ...patch,
});
const endorse = (endorser: string, checkpoint: string): EndorsementInfo => ({ endorser, checkpoint });

function rank(validators: string[], proposals: ProposalInfo[], endorsements: EndorsementInfo[] = []) {
  const input: HeightInput = { height: 5, validators, prevId: PREV, prevHeads: [], proposals, endorsements };
  return rankHeight(input);
}

test("turns go round the validators in fingerprint order", () => {
  expect([1, 2, 3, 4].map((h) => inTurnProposer([C, A, B], h))).toEqual([B, C, A, B]);
  expect(inTurnProposer([A], 9)).toBe(A);
  expect(inTurnProposer([], 1)).toBeUndefined();
});

describe("finality needs a majority of signers, the proposer included", () => {
  const cases: [string, string[], string[], boolean][] = [
    ["1 validator: its own proposal", [A], [], true],
    ["2 validators: the proposal alone", [A, B], [], false],
    ["2 validators: endorsed by the other", [A, B], [B], true],
    ["3 validators: the proposal alone", [A, B, C], [], false],
    ["3 validators: one endorsement", [A, B, C], [C], true],
    ["4 validators: one endorsement", [A, B, C, D], [B], false],
    ["4 validators: two endorsements", [A, B, C, D], [B, D], true],
    ["4 validators: the proposer endorsing itself adds nothing", [A, B, C, D], [A, B], false],
    ["3 validators: an outsider's endorsement adds nothing", [A, B, C], [X], false],
  ];
  test.each(cases)("%s", (_name, validators, endorsers, final) => {
    const best = rank(
      validators,
      [proposal(id("1"), A)],
      endorsers.map((e) => endorse(e, id("1"))),
    ).ranked[0];
    expect(best?.final).toBe(final);
    expect(best?.signers).toBe(1 + endorsers.filter((e) => e !== A && validators.includes(e)).length);
  });
});

describe("fork choice is the same whatever order the blocks arrive in", () => {
  // Height 5 with validators A..D: the in-turn proposer is B.
  const set = [A, B, C, D];
  const cases: [string, ProposalInfo[], EndorsementInfo[], string[]][] = [
    [
      "final beats non-final with more proposals around",
      [proposal(id("1"), A), proposal(id("2"), C), proposal(id("3"), D)],
      [endorse(B, id("3")), endorse(C, id("3"))],
      [id("3"), id("1"), id("2")],
    ],
    [
      "both final: more signers wins",
      [proposal(id("1"), A), proposal(id("2"), C)],
      [
        endorse(B, id("1")),
        endorse(D, id("1")),
        endorse(A, id("2")),
        endorse(B, id("2")),
        endorse(D, id("2")),
      ],
      [id("2"), id("1")],
    ],
    [
      "equal signers: the in-turn proposer wins",
      [proposal(id("1"), A), proposal(id("9"), B)],
      [],
      [id("9"), id("1")],
    ],
    [
      "equal signers, neither in turn: the lowest id wins",
      [proposal(id("7"), C), proposal(id("3"), D), proposal(id("5"), A)],
      [],
      [id("3"), id("5"), id("7")],
    ],
    [
      "another branch, a non-validator and a backward head are ignored",
      [
        proposal(id("1"), A, { prev: id("f") }),
        proposal(id("2"), X),
        proposal(id("3"), C),
        proposal(id("4"), A, { height: 4 }),
      ],
      [endorse(B, id("1")), endorse(C, id("1")), endorse(D, id("2"))],
      [id("3")],
    ],
  ];
  test.each(cases)("%s", (_name, proposals, endorsements, expected) => {
    const rand = seededRandom(proposals.length * 31 + endorsements.length);
    const shuffle = <T>(xs: T[]) =>
      xs
        .map((x) => ({ x, k: rand(4).reduce((a, b) => a * 256 + b, 0) }))
        .sort((a, b) => a.k - b.k)
        .map((e) => e.x);
    const first = rank(set, proposals, endorsements);
    expect(first.ranked.map((c) => c.id)).toEqual(expected);
    for (let i = 0; i < 12; i++) expect(rank(set, shuffle(proposals), shuffle(endorsements))).toEqual(first);
  });
});

test("a validator endorsing two proposals at one height counts for neither and is reported", () => {
  const proposals = [proposal(id("1"), A), proposal(id("2"), B)];
  const honest = rank([A, B, C], proposals, [endorse(C, id("1"))]);
  expect(honest.ranked[0]).toMatchObject({ id: id("1"), final: true, signers: 2 });
  const twoFaced = rank([A, B, C], proposals, [
    endorse(C, id("1")),
    endorse(C, id("2")),
    endorse(C, id("1")),
  ]);
  expect(twoFaced.equivocators).toEqual([C]);
  expect(twoFaced.ranked.map((c) => [c.id, c.signers, c.final])).toEqual([
    [id("1"), 1, false],
    [id("2"), 1, false],
  ]);
  // Naming a proposal on another branch is still a second endorsement at this height.
  expect(rank([A, B, C], proposals, [endorse(C, id("1")), endorse(C, id("8"))]).equivocators).toEqual([C]);
});

describe("heads only move forward", () => {
  const h = (author: string, length: number, root = "r") => ({ author, length, root }) as Head;
  test.each([
    ["longer and new logs", [h(A, 2)], [h(A, 3, "s"), h(B, 1)], true],
    ["the same head", [h(A, 2)], [h(A, 2)], true],
    ["a shorter head", [h(A, 2)], [h(A, 1)], false],
    ["a dropped log", [h(A, 2), h(B, 1)], [h(A, 2)], false],
    ["another root at the same length", [h(A, 2)], [h(A, 2, "s")], false],
  ])("%s", (_name, before, after, ok) => {
    expect(headsExtend(before as Head[], after as Head[])).toBe(ok);
  });

  test("a proposal going back on the previous checkpoint's heads is ignored", () => {
    const input: HeightInput = {
      height: 2,
      validators: [A],
      prevId: PREV,
      prevHeads: [h(A, 4)],
      proposals: [proposal(id("1"), A, { height: 2, heads: [h(A, 3)] })],
      endorsements: [],
    };
    expect(rankHeight(input).ranked).toEqual([]);
    expect(rankHeight({ ...input, prevId: ZERO_ID }).ranked).toEqual([]);
  });
});
