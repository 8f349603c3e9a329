// Trust scores from confirm/dispute votes (order-independent) and search ranking by trust.
import { describe, expect, test } from "bun:test";
import { seededRandom } from "../../identity/test-fleet.test-helper.ts";
import {
  type BlockVote,
  rankByTrust,
  type StandingVote,
  type TrustCounts,
  trustDelta,
  trustScore,
  trustWeighted,
} from "./trust.ts";

const fp = (c: string) => c.repeat(32);
const [A, B, C, D] = ["a", "b", "c", "d"].map(fp) as [string, string, string, string];

test("trust starts at one half and moves with votes, never reaching 0 or 1", () => {
  expect(trustScore({ confirms: 0, disputes: 0 })).toBe(0.5);
  expect(trustScore({ confirms: 2, disputes: 0 })).toBe(0.75);
  expect(trustScore({ confirms: 0, disputes: 2 })).toBe(0.25);
  expect(trustScore({ confirms: 3, disputes: 3 })).toBe(0.5);
  expect(trustScore({ confirms: 1000, disputes: 0 })).toBeLessThan(1);
});

/** Applies votes one by one as the SQLite state does, keeping standing votes per (block, voter). */
function replay(votes: readonly BlockVote[]): Map<string, TrustCounts> {
  const standing = new Map<string, StandingVote>();
  const counts = new Map<string, TrustCounts>();
  for (const v of votes) {
    const key = `${v.author}/${v.seq}/${v.voter}`;
    const d = trustDelta(standing.get(key), v);
    if (!d.replace) continue;
    standing.set(key, { kind: v.kind, voteSeq: v.voteSeq });
    const c = counts.get(v.author) ?? { confirms: 0, disputes: 0 };
    counts.set(v.author, { confirms: c.confirms + d.confirms, disputes: c.disputes + d.disputes });
  }
  return counts;
}

describe("counting votes", () => {
  const vote = (voter: string, voteSeq: number, kind: BlockVote["kind"], author = A, seq = 0): BlockVote => ({
    voter,
    voteSeq,
    kind,
    author,
    seq,
  });

  test("distinct voters count once per block; self-votes count for nothing", () => {
    const counts = replay([
      vote(B, 0, "confirm"),
      vote(C, 0, "confirm"),
      vote(C, 1, "confirm"),
      vote(D, 0, "dispute"),
      vote(A, 4, "confirm"),
      vote(B, 1, "confirm", A, 1),
    ]);
    expect(counts.get(A)).toEqual({ confirms: 3, disputes: 1 });
  });

  test("a voter's latest vote on a block replaces its earlier one, in whatever order they are seen", () => {
    const votes = [
      vote(B, 0, "confirm"),
      vote(B, 5, "dispute"),
      vote(B, 3, "confirm"),
      vote(C, 2, "dispute"),
      vote(C, 9, "confirm"),
      vote(D, 1, "confirm", B),
      vote(A, 2, "dispute", B),
      vote(A, 7, "dispute", B, 3),
    ];
    const expected = new Map([
      [A, { confirms: 1, disputes: 1 }],
      [B, { confirms: 1, disputes: 2 }],
    ]);
    expect(replay(votes)).toEqual(expected);
    const rand = seededRandom(5);
    for (let i = 0; i < 20; i++) {
      const shuffled = votes
        .map((v) => ({ v, k: rand(4).reduce((a, b) => a * 256 + b, 0) }))
        .sort((a, b) => a.k - b.k)
        .map((e) => e.v);
      const counts = replay(shuffled);
      expect([...counts].sort()).toEqual([...expected].sort());
    }
  });
});

describe("ranking search hits by trust", () => {
  const trust: Record<string, number> = { [A]: 0.9, [B]: 0.5, [C]: 0.1 };
  const trustOf = (author: string) => trust[author] ?? 0.5;

  test("a trusted author's hit overtakes a slightly more relevant one from a distrusted author", () => {
    const hits = [
      { author: C, score: 10, text: "disputed" },
      { author: A, score: 8, text: "confirmed" },
      { author: B, score: 9, text: "unvoted" },
    ];
    expect(rankByTrust(hits, trustOf).map((h) => h.text)).toEqual(["confirmed", "unvoted", "disputed"]);
    expect(trustWeighted(10, 0.5)).toBe(10);
  });

  test("relevance still leads when it is far apart, and equal weights keep their order", () => {
    const hits = [
      { author: A, score: 1, id: 1 },
      { author: C, score: 20, id: 2 },
      { author: B, score: 4, id: 3 },
      { author: D, score: 4, id: 4 },
      { author: B, score: 4, id: 5 },
    ];
    expect(rankByTrust(hits, trustOf).map((h) => h.id)).toEqual([2, 3, 4, 5, 1]);
    expect(hits.map((h) => h.id)).toEqual([1, 2, 3, 4, 5]);
  });
});
