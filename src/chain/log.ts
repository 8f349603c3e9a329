// One author's append-only log: appends extend the Merkle tree incrementally (O(log n) nodes) and
// sign the new root in the same transaction; verification streams the log with O(log n) memory.
import { kianaError } from "../errors.ts";
import type { NodeKeys } from "../identity/node-keys.ts";
import type { Clock } from "../platform/clock.ts";
import { type Block, blockProblem, equalBytes, leafHash, ZERO_HASH } from "./block.ts";
import {
  depth,
  fullRoots,
  type GetNode,
  type InclusionProof,
  inclusionProof,
  nodesForAppend,
  offset,
  parent,
  parentHash,
  rootHash,
  rootOf,
  type TreeNode,
} from "./merkle.ts";
import type { ChainStore, StoredBlock } from "./ports.ts";
import { type SignedRoot, signRoot, verifySignedRoot } from "./signed-root.ts";

export interface ChainEntry {
  type: string;
  body: Uint8Array;
}

export type LogVerdict =
  | { ok: true; length: number; signedLength: number }
  /** `seq` names the first block found inconsistent; absent when the signed root itself is bad. */
  | { ok: false; seq?: number; reason: string };

export interface BlockWithProof {
  block: StoredBlock;
  proof: InclusionProof;
  root: SignedRoot;
}

export interface ChainLog {
  readonly author: string;
  append(type: string, body: Uint8Array): StoredBlock;
  /** Many blocks under one signature and one transaction; the caller bounds the batch. */
  appendBatch(entries: readonly ChainEntry[]): { blocks: StoredBlock[]; root: SignedRoot };
  /** A block of any stored author with its proof against that author's latest signed root. */
  prove(author: string, seq: number): BlockWithProof | undefined;
  /**
   * Recomputes every hash, link, stored node and the signed root of `author`'s log. With `from`,
   * only blocks from there on: the prefix is taken as verified earlier (logs are append-only, so a
   * crash can only touch the tail), and its stored peaks are the starting point.
   */
  verifyLog(author: string, authorPublicKey?: Uint8Array, opts?: { from?: number }): LogVerdict;
}

export function createChainLog(opts: { store: ChainStore; keys: NodeKeys; clock: Clock }): ChainLog {
  const { store, keys, clock } = opts;
  const author = keys.fingerprint;
  const getter =
    (who: string): GetNode =>
    (index) =>
      store.node(who, index);

  function appendBatch(entries: readonly ChainEntry[]) {
    const start = store.length(author);
    // Nodes made earlier in this batch are not stored yet; later ones may need them as siblings.
    const pending = new Map<number, Uint8Array>();
    const getNode: GetNode = (index) => pending.get(index) ?? store.node(author, index);
    let prev = start === 0 ? ZERO_HASH : getNode(2 * (start - 1));
    if (!prev) throw kianaError("CHAIN_BAD_BLOCK", `block ${start - 1} of the own log is missing`);
    const blocks: StoredBlock[] = [];
    const nodes: TreeNode[] = [];
    const ts = clock.now();
    entries.forEach((entry, i) => {
      const block: Block = { author, seq: start + i, prev: prev as Uint8Array, ts, ...entry };
      const problem = blockProblem(block);
      if (problem) throw kianaError("CHAIN_BAD_BLOCK", `cannot append: ${problem}`, { type: entry.type });
      const hash = leafHash(block);
      pending.set(2 * block.seq, hash);
      for (const node of nodesForAppend(block.seq, hash, getNode)) {
        pending.set(node.index, node.hash);
        nodes.push(node);
      }
      blocks.push({ block, hash });
      prev = hash;
    });
    const length = start + entries.length;
    const root = signRoot(keys, { length, root: rootOf(length, getNode), ts });
    store.append({ author, blocks, nodes, root });
    return { blocks, root };
  }

  function verifyLog(who: string, authorPublicKey?: Uint8Array, opts: { from?: number } = {}): LogVerdict {
    const publicKey = authorPublicKey ?? (who === author ? keys.signingPublicKey : undefined);
    const signed = store.latestSignedRoot(who);
    if (signed && (!publicKey || !verifySignedRoot(signed, publicKey)))
      return { ok: false, reason: `the signed root at length ${signed.length} does not verify` };
    const length = store.length(who);
    const from = Math.min(Math.max(0, Math.floor(opts.from ?? 0)), length);
    // The peaks of the prefix read so far: at most log2(n) hashes, whatever the log's length.
    const peaks: TreeNode[] = [];
    for (const index of from > 0 ? fullRoots(from) : []) {
      const hash = store.node(who, index);
      if (!hash) return { ok: false, seq: from, reason: `stored tree node ${index} is missing` };
      peaks.push({ index, hash });
    }
    let prev = from === 0 ? ZERO_HASH : store.node(who, 2 * (from - 1));
    if (!prev) return { ok: false, seq: from - 1, reason: "missing from the log" };
    let seq = from;
    for (const { block, hash } of store.blocks(who, from, length)) {
      const bad = (reason: string): LogVerdict => ({ ok: false, seq, reason });
      if (block.seq !== seq || block.author !== who) return bad("out of place in the log");
      const problem = blockProblem(block);
      if (problem) return bad(problem);
      if (!equalBytes(block.prev, prev)) return bad("prev does not match the previous block's hash");
      const recomputed = leafHash(block);
      if (!equalBytes(recomputed, hash)) return bad("contents do not match the stored hash");
      peaks.push({ index: 2 * seq, hash: recomputed });
      for (let top = peaks.at(-1); top && offset(top.index) % 2 === 1; top = peaks.at(-1)) {
        const left = peaks.at(-2);
        if (!left) break;
        const up = parent(top.index);
        const node = { index: up, hash: parentHash(left.hash, top.hash, 2 ** depth(up)) };
        const stored = store.node(who, up);
        if (!stored || !equalBytes(stored, node.hash)) return bad(`stored tree node ${up} does not match`);
        peaks.splice(-2, 2, node);
      }
      prev = recomputed;
      seq++;
      if (signed && seq === signed.length) {
        const root = rootHash(
          seq,
          peaks.map((p) => p.hash),
        );
        if (!equalBytes(root, signed.root)) return bad("the blocks up to here do not match the signed root");
      }
    }
    if (seq !== length) return { ok: false, seq, reason: "missing from the log" };
    if (signed && signed.length > length)
      return { ok: false, reason: "the signed root covers missing blocks" };
    return { ok: true, length, signedLength: signed?.length ?? 0 };
  }

  return {
    author,
    append: (type, body) => {
      const [block] = appendBatch([{ type, body }]).blocks;
      if (!block) throw kianaError("CHAIN_BAD_BLOCK", "append produced no block");
      return block;
    },
    appendBatch,
    prove(who, seq) {
      const root = store.latestSignedRoot(who);
      const block = store.block(who, seq);
      if (!root || !block || seq >= root.length) return undefined;
      return { block, proof: inclusionProof(seq, root.length, getter(who)), root };
    },
    verifyLog,
  };
}
