import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { consistencyProof, verifyConsistency } from "./consistency.ts";
import {
  children,
  depth,
  fullRoots,
  inclusionProof,
  nodesForAppend,
  offset,
  parent,
  rootOf,
  sibling,
  span,
  verifyInclusion,
} from "./merkle.ts";

const leaf = (k: number, salt = "") =>
  new Uint8Array(createHash("sha256").update(`leaf ${k}${salt}`).digest());

/** A whole tree in a Map: fine for tests of up to a few hundred leaves. */
function buildTree(length: number, salt = (_k: number) => "") {
  const nodes = new Map<number, Uint8Array>();
  const get = (i: number) => nodes.get(i);
  for (let k = 0; k < length; k++) {
    const h = leaf(k, salt(k));
    nodes.set(2 * k, h);
    for (const n of nodesForAppend(k, h, get)) nodes.set(n.index, n.hash);
  }
  return { nodes, get, root: rootOf(length, get) };
}

const flip = (b: Uint8Array) => {
  const c = new Uint8Array(b);
  c[0] = (c[0] ?? 0) ^ 1;
  return c;
};

describe("flat tree index math", () => {
  test("depth, offset, parent, sibling, children and span of the first nodes", () => {
    const table: [number, number, number, number, number, [number, number]][] = [
      // index, depth, offset, parent, sibling, span
      [0, 0, 0, 1, 2, [0, 1]],
      [1, 1, 0, 3, 5, [0, 2]],
      [2, 0, 1, 1, 0, [1, 2]],
      [3, 2, 0, 7, 11, [0, 4]],
      [4, 0, 2, 5, 6, [2, 3]],
      [5, 1, 1, 3, 1, [2, 4]],
      [6, 0, 3, 5, 4, [3, 4]],
      [7, 3, 0, 15, 23, [0, 8]],
      [11, 2, 1, 7, 3, [4, 8]],
      [13, 1, 3, 11, 9, [6, 8]],
    ];
    for (const [i, d, o, p, s, sp] of table) {
      expect([i, depth(i), offset(i), parent(i), sibling(i), span(i)]).toEqual([i, d, o, p, s, sp]);
    }
    expect(children(0)).toBeUndefined();
    expect(children(1)).toEqual([0, 2]);
    expect(children(3)).toEqual([1, 5]);
    expect(children(7)).toEqual([3, 11]);
    expect(children(11)).toEqual([9, 13]);
  });

  test("full-subtree roots of a length", () => {
    expect(fullRoots(0)).toEqual([]);
    expect(fullRoots(1)).toEqual([0]);
    expect(fullRoots(2)).toEqual([1]);
    expect(fullRoots(3)).toEqual([1, 4]);
    expect(fullRoots(4)).toEqual([3]);
    expect(fullRoots(5)).toEqual([3, 8]);
    expect(fullRoots(7)).toEqual([3, 9, 12]);
    expect(fullRoots(8)).toEqual([7]);
    expect(fullRoots(11)).toEqual([7, 17, 20]);
  });

  test("relations hold for every node below 4096 and past 2^32", () => {
    for (let i = 0; i < 4096; i++) {
      expect(sibling(sibling(i))).toBe(i);
      expect(children(parent(i))).toContain(i);
      const [first, end] = span(i);
      expect(end - first).toBe(2 ** depth(i));
    }
    const big = 2 ** 41 - 1; // a million-block log is far below this; the math must not wrap at 2^31
    expect(depth(big)).toBe(41);
    expect(span(big)).toEqual([0, 2 ** 41]);
    expect(parent(2 ** 33)).toBe(2 ** 33 + 1);
  });

  test("the peaks of every length cover it exactly, left to right", () => {
    for (let n = 0; n <= 300; n++) {
      let next = 0;
      for (const p of fullRoots(n)) {
        const [first, end] = span(p);
        expect(first).toBe(next);
        next = end;
      }
      expect(next).toBe(n);
    }
  });
});

describe("inclusion proofs", () => {
  test("every leaf of every length 1..64 verifies against the root", () => {
    for (let n = 1; n <= 64; n++) {
      const { get, root } = buildTree(n);
      for (let k = 0; k < n; k++) {
        const proof = inclusionProof(k, n, get);
        expect(verifyInclusion(leaf(k), k, n, proof, root)).toBe(true);
      }
    }
  });

  test("a tampered leaf, sibling, peak, root, index or length fails", () => {
    const n = 45;
    const { get, root } = buildTree(n);
    for (const k of [0, 7, 31, 32, 44]) {
      const proof = inclusionProof(k, n, get);
      expect(verifyInclusion(flip(leaf(k)), k, n, proof, root)).toBe(false);
      expect(verifyInclusion(leaf(k), k, n, proof, flip(root))).toBe(false);
      expect(verifyInclusion(leaf(k), k === 0 ? 1 : k - 1, n, proof, root)).toBe(false);
      expect(verifyInclusion(leaf(k), k, n + 1, proof, root)).toBe(false);
      proof.siblings.forEach((s, i) => {
        const bad = { ...proof, siblings: proof.siblings.with(i, flip(s)) };
        expect(verifyInclusion(leaf(k), k, n, bad, root)).toBe(false);
      });
      proof.peaks.forEach((p, i) => {
        const bad = { ...proof, peaks: proof.peaks.with(i, flip(p)) };
        expect(verifyInclusion(leaf(k), k, n, bad, root)).toBe(false);
      });
      const short = { ...proof, siblings: proof.siblings.slice(1) };
      const long = { ...proof, siblings: [...proof.siblings, leaf(99)] };
      // Leaf 44 is a peak on its own: its proof has no siblings to drop.
      expect(verifyInclusion(leaf(k), k, n, short, root)).toBe(proof.siblings.length === 0);
      expect(verifyInclusion(leaf(k), k, n, long, root)).toBe(false);
    }
  });

  test("hostile proofs are refused without throwing", () => {
    const { root } = buildTree(4);
    const hostile = [null, {}, { siblings: "x", peaks: [] }, { siblings: [new Uint8Array(3)], peaks: [] }];
    for (const p of hostile) expect(verifyInclusion(leaf(0), 0, 4, p as never, root)).toBe(false);
    expect(verifyInclusion(leaf(0), -1, 4, { siblings: [], peaks: [] }, root)).toBe(false);
    expect(verifyInclusion(leaf(0), 0.5, 4, { siblings: [], peaks: [] }, root)).toBe(false);
  });

  test("a missing node is a CHAIN_BAD_PROOF error, not a wrong proof", () => {
    expect(() => inclusionProof(0, 4, () => undefined)).toThrow(
      expect.objectContaining({ code: "CHAIN_BAD_PROOF" }),
    );
  });
});

describe("consistency proofs", () => {
  test("every old length 0..n of every n up to 40 is proved a prefix", () => {
    for (let n = 0; n <= 40; n++) {
      const tree = buildTree(n);
      for (let m = 0; m <= n; m++) {
        const old = rootOf(m, tree.get);
        const proof = consistencyProof(m, n, tree.get);
        expect(proof.nodes.length).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(n + 1)) + 1);
        expect(verifyConsistency(m, old, n, tree.root, proof)).toBe(true);
      }
    }
  });

  test("a rewritten history, a tampered node or a wrong length fails", () => {
    const n = 37;
    const honest = buildTree(n);
    const forked = buildTree(n, (k) => (k === 20 ? "forged" : ""));
    for (const m of [5, 20, 21, 32, 36]) {
      const oldRoot = rootOf(m, honest.get);
      // The forked log agrees with the old root only if the fork is past m.
      const proof = consistencyProof(m, n, forked.get);
      expect(verifyConsistency(m, oldRoot, n, forked.root, proof)).toBe(m <= 20);
      const good = consistencyProof(m, n, honest.get);
      expect(verifyConsistency(m, oldRoot, n, honest.root, good)).toBe(true);
      good.nodes.forEach((h, i) => {
        const bad = { ...good, nodes: good.nodes.with(i, flip(h)) };
        expect(verifyConsistency(m, oldRoot, n, honest.root, bad)).toBe(false);
      });
      expect(verifyConsistency(m, oldRoot, n - 1, honest.root, good)).toBe(false);
      expect(verifyConsistency(m, oldRoot, n, honest.root, { ...good, nodes: [] })).toBe(false);
      expect(
        verifyConsistency(m, oldRoot, n, honest.root, { ...good, nodes: [...good.nodes, leaf(1)] }),
      ).toBe(false);
    }
  });
});
