// Verifies one received batch before anything is stored: the blocks are rebuilt on top of this
// node's own verified log (implied author, seq and prev), the tree is extended, and the new root
// must be the signed head's root or provably a prefix of it. Only then is the batch written.
import { type Block, blockProblem, leafHash, ZERO_HASH } from "../block.ts";
import { verifyConsistency } from "../consistency.ts";
import { fullRoots, type GetNode, nodesForAppend, rootOf, type TreeNode } from "../merkle.ts";
import type { ChainStore, StoredBlock } from "../ports.ts";
import type { Batch, Head } from "./wire.ts";

export type BatchVerdict = { ok: true; stored: number } | { ok: false; reason: string };

const equal = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b) === 0;

/** `head` must already be verified (signature by the author's enrolled key). */
export function applyBatch(store: ChainStore, batch: Batch, head: Head): BatchVerdict {
  const { author } = batch;
  const held = store.length(author);
  const end = batch.from + batch.entries.length;
  if (batch.from !== held)
    return {
      ok: false,
      reason: `batch of ${author} starts at ${batch.from} but ${held} blocks are held (replayed or out-of-order range)`,
    };
  if (batch.target !== head.length)
    return {
      ok: false,
      reason: `batch of ${author} targets length ${batch.target}, not the head's ${head.length}`,
    };
  const pending = new Map<number, Uint8Array>();
  const getNode: GetNode = (index) => pending.get(index) ?? store.node(author, index);
  let prev = held === 0 ? ZERO_HASH : getNode(2 * (held - 1));
  if (!prev) return { ok: false, reason: `block ${held - 1} of ${author} is missing locally` };
  const blocks: StoredBlock[] = [];
  const nodes: TreeNode[] = [];
  for (const [i, entry] of batch.entries.entries()) {
    const block: Block = { author, seq: held + i, prev, ...entry };
    const problem = blockProblem(block);
    if (problem) return { ok: false, reason: `block ${block.seq} of ${author}: ${problem}` };
    const hash = leafHash(block);
    pending.set(2 * block.seq, hash);
    for (const node of nodesForAppend(block.seq, hash, getNode)) {
      pending.set(node.index, node.hash);
      nodes.push(node);
    }
    blocks.push({ block, hash });
    prev = hash;
  }
  const root = rootOf(end, getNode);
  const proven =
    end === head.length
      ? equal(root, head.root)
      : verifyConsistency(end, root, head.length, head.root, {
          oldPeaks: fullRoots(end).map((i) => getNode(i) as Uint8Array),
          nodes: batch.proof,
        });
  if (!proven)
    return {
      ok: false,
      reason: `blocks ${batch.from}..${end} of ${author} do not prove against its signed root at ${head.length} (tampered block or proof)`,
    };
  store.append({
    author,
    blocks,
    nodes,
    root: end === head.length ? { ...head, author } : undefined,
  });
  return { ok: true, stored: blocks.length };
}
