// The contract every ChainStore adapter passes: run it from each adapter's test file with a factory
// that makes an empty store (and, optionally, a way to close it).
import { afterEach, expect, test } from "bun:test";
import { type Block, equalBytes, leafHash, ZERO_HASH } from "./block.ts";
import { type GetNode, nodesForAppend, rootOf, type TreeNode } from "./merkle.ts";
import type { ChainAppend, ChainStore, StoredBlock } from "./ports.ts";
import type { SignedRoot } from "./signed-root.ts";

type Factory = () => { store: ChainStore; close?: () => void };

export const AUTHOR_A = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
export const AUTHOR_B = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/** A well-formed batch extending `store`'s log of `author` (signatures are not the store's business). */
export function makeBatch(store: ChainStore, author: string, count: number, withRoot = true): ChainAppend {
  const start = store.length(author);
  const pending = new Map<number, Uint8Array>();
  const get: GetNode = (i) => pending.get(i) ?? store.node(author, i);
  let prev = start === 0 ? ZERO_HASH : (get(2 * (start - 1)) ?? ZERO_HASH);
  const blocks: StoredBlock[] = [];
  const nodes: TreeNode[] = [];
  for (let seq = start; seq < start + count; seq++) {
    const block: Block = {
      author,
      seq,
      prev,
      ts: 1000 + seq,
      type: "knowledge",
      body: Uint8Array.of(seq % 256),
    };
    const hash = leafHash(block);
    pending.set(2 * seq, hash);
    for (const n of nodesForAppend(seq, hash, get)) {
      pending.set(n.index, n.hash);
      nodes.push(n);
    }
    blocks.push({ block, hash });
    prev = hash;
  }
  const length = start + count;
  const root = {
    author,
    length,
    root: rootOf(length, get),
    ts: 5000 + length,
    signature: new Uint8Array(64),
  };
  return { author, blocks, nodes, root: withRoot ? root : undefined };
}

const conflict = expect.objectContaining({ code: "CHAIN_APPEND_CONFLICT" });

export function chainStoreContract(name: string, make: Factory): void {
  const open: (() => void)[] = [];
  const fresh = () => {
    const { store, close } = make();
    if (close) open.push(close);
    return store;
  };
  afterEach(() => {
    for (const close of open.splice(0)) close();
  });

  test(`${name}: an empty store has no authors, blocks, nodes or roots`, () => {
    const s = fresh();
    expect(s.length(AUTHOR_A)).toBe(0);
    expect(s.block(AUTHOR_A, 0)).toBeUndefined();
    expect([...s.blocks(AUTHOR_A, 0, 10)]).toEqual([]);
    expect(s.node(AUTHOR_A, 0)).toBeUndefined();
    expect(s.latestSignedRoot(AUTHOR_A)).toBeUndefined();
    expect(s.authors()).toEqual([]);
  });

  test(`${name}: appended blocks, leaves, inner nodes and the root read back, per author`, () => {
    const s = fresh();
    const first = makeBatch(s, AUTHOR_B, 3);
    s.append(first);
    const second = makeBatch(s, AUTHOR_B, 4);
    s.append(second);
    s.append(makeBatch(s, AUTHOR_A, 1));
    expect(s.length(AUTHOR_B)).toBe(7);
    expect(s.length(AUTHOR_A)).toBe(1);
    expect(s.authors()).toEqual([AUTHOR_A, AUTHOR_B]);
    const want = second.blocks[1] as StoredBlock;
    expect(s.block(AUTHOR_B, 4)).toEqual(want);
    expect(s.node(AUTHOR_B, 8)).toEqual(want.hash);
    for (const n of [...first.nodes, ...second.nodes]) expect(s.node(AUTHOR_B, n.index)).toEqual(n.hash);
    expect(s.node(AUTHOR_B, 3)).toBeDefined(); // the subtree of leaves 0..3, completed by the second batch
    expect(s.node(AUTHOR_B, 7)).toBeUndefined(); // leaves 0..7 are not all there yet
    expect(s.node(AUTHOR_B, 14)).toBeUndefined();
    expect(s.latestSignedRoot(AUTHOR_B)).toEqual(second.root);
    const get = (i: number) => s.node(AUTHOR_B, i);
    expect(equalBytes(rootOf(7, get), second.root?.root ?? ZERO_HASH)).toBe(true);
  });

  test(`${name}: ranges iterate in order, clamp to the log, and can stop early`, () => {
    const s = fresh();
    s.append(makeBatch(s, AUTHOR_A, 300));
    expect([...s.blocks(AUTHOR_A, 10, 15)].map((b) => b.block.seq)).toEqual([10, 11, 12, 13, 14]);
    expect([...s.blocks(AUTHOR_A, 295, 1000)].map((b) => b.block.seq)).toEqual([295, 296, 297, 298, 299]);
    expect([...s.blocks(AUTHOR_A, 5, 5)]).toEqual([]);
    expect([...s.blocks(AUTHOR_B, 0, 10)]).toEqual([]);
    let seen = 0;
    for (const b of s.blocks(AUTHOR_A, 0, 300)) {
      seen++;
      if (b.block.seq === 2) break;
    }
    expect(seen).toBe(3);
    // The store is usable after an abandoned iteration.
    s.append(makeBatch(s, AUTHOR_A, 1));
    expect(s.length(AUTHOR_A)).toBe(301);
  });

  test(`${name}: a refused append leaves nothing half-written`, () => {
    const s = fresh();
    s.append(makeBatch(s, AUTHOR_A, 2));
    const before = { length: s.length(AUTHOR_A), root: s.latestSignedRoot(AUTHOR_A), authors: s.authors() };
    const good = makeBatch(s, AUTHOR_A, 6);
    const broken: ChainAppend[] = [
      { ...good, blocks: good.blocks.slice(1) }, // a gap before the first block
      { ...good, blocks: [...good.blocks.slice(0, 3), ...good.blocks.slice(4)] }, // a gap inside
      {
        ...good,
        blocks: [...good.blocks.slice(0, 5), { ...(good.blocks[5] as StoredBlock), hash: new Uint8Array(3) }],
      },
      { ...good, root: good.root && { ...good.root, length: 99 } },
      { ...good, root: good.root && { ...good.root, author: AUTHOR_B } },
      { ...good, nodes: [...good.nodes, { index: 40, hash: new Uint8Array(32) }] },
      { ...good, author: AUTHOR_B },
      makeBatch(fresh(), AUTHOR_A, 2), // seq 0 and 1 again
    ];
    for (const batch of broken) {
      expect(() => s.append(batch)).toThrow(conflict);
      expect(s.length(AUTHOR_A)).toBe(before.length);
      expect(s.latestSignedRoot(AUTHOR_A)).toEqual(before.root);
      expect(s.authors()).toEqual(before.authors);
      expect(s.node(AUTHOR_A, 4)).toBeUndefined();
      for (const n of good.nodes) expect(s.node(AUTHOR_A, n.index)).toBeUndefined();
    }
    s.append(good);
    expect(s.length(AUTHOR_A)).toBe(8);
  });

  test(`${name}: signed roots: only over stored blocks, first at a length kept, longest is latest`, () => {
    const s = fresh();
    const batch = makeBatch(s, AUTHOR_A, 5, false);
    s.append(batch);
    expect(s.latestSignedRoot(AUTHOR_A)).toBeUndefined();
    const root = {
      author: AUTHOR_A,
      length: 3,
      root: new Uint8Array(32).fill(3),
      ts: 1,
      signature: Uint8Array.of(1),
    };
    expect(() => s.putSignedRoot({ ...root, length: 6 })).toThrow(conflict);
    expect(() => s.putSignedRoot({ ...root, author: AUTHOR_B, length: 1 })).toThrow(conflict);
    expect(() => s.putSignedRoot({ ...root, author: 7 as never })).toThrow(conflict);
    s.putSignedRoot(root);
    s.putSignedRoot({ ...root, root: new Uint8Array(32).fill(4) });
    expect(s.latestSignedRoot(AUTHOR_A)).toEqual(root);
    s.putSignedRoot({ ...root, length: 5 });
    s.putSignedRoot({ ...root, length: 4 });
    expect(s.latestSignedRoot(AUTHOR_A)?.length).toBe(5);
  });

  test(`${name}: a root appended with blocks supersedes the older roots of that log`, () => {
    const s = fresh();
    for (let i = 0; i < 5; i++) s.append(makeBatch(s, AUTHOR_A, 2));
    expect(s.latestSignedRoot(AUTHOR_A)?.length).toBe(10);
    // An older root a peer sends is still kept as evidence until the next append.
    const old = s.latestSignedRoot(AUTHOR_A);
    s.putSignedRoot({ ...(old as SignedRoot), length: 4 });
    s.append(makeBatch(s, AUTHOR_A, 1));
    expect(s.latestSignedRoot(AUTHOR_A)?.length).toBe(11);
  });

  test(`${name}: what a caller gets back is a copy`, () => {
    const s = fresh();
    const batch = makeBatch(s, AUTHOR_A, 1);
    s.append(batch);
    (batch.blocks[0] as StoredBlock).block.body[0] = 99;
    const got = s.block(AUTHOR_A, 0) as StoredBlock;
    expect(got.block.body[0]).toBe(0);
    got.hash[0] = (got.hash[0] ?? 0) ^ 1;
    expect(s.block(AUTHOR_A, 0)?.hash).not.toEqual(got.hash);
  });
}
