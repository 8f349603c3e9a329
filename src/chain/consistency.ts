// Proof that a log of length m is a prefix of the same author's log of length n: a receiver that
// trusts the old root learns the new one extends it, with no forked history, in O(log n) hashes.
import { kianaError } from "../errors.ts";
import { equalBytes, HASH_BYTES } from "./block.ts";
import { children, depth, fullRoots, type GetNode, parentHash, rootHash, span } from "./merkle.ts";

export interface ConsistencyProof {
  /** Peak hashes of the old length, left to right: they must hash to the old root. */
  oldPeaks: Uint8Array[];
  /** Hashes of the nodes wholly past the old length, in the order the walk below meets them. */
  nodes: Uint8Array[];
}

/**
 * Walks each new peak down to old peaks: a node that is an old peak is known, one wholly past the
 * old length is taken from `fetch`, anything else straddles the boundary and is split. No node
 * strictly inside an old peak is ever reached, so the walk touches O(log n) nodes.
 */
function walk(
  oldLength: number,
  newLength: number,
  known: (index: number) => Uint8Array | undefined,
  fetch: (index: number) => Uint8Array | undefined,
): Uint8Array[] | undefined {
  const oldPeaks = new Set(fullRoots(oldLength));
  const hashOf = (index: number): Uint8Array | undefined => {
    if (oldPeaks.has(index)) return known(index);
    if (span(index)[0] >= oldLength) return fetch(index);
    const kids = children(index);
    if (!kids) return undefined;
    const left = hashOf(kids[0]);
    const right = left && hashOf(kids[1]);
    return left && right ? parentHash(left, right, 2 ** depth(index)) : undefined;
  };
  const peaks: Uint8Array[] = [];
  for (const p of fullRoots(newLength)) {
    const h = hashOf(p);
    if (!h) return undefined;
    peaks.push(h);
  }
  return peaks;
}

export function consistencyProof(oldLength: number, newLength: number, getNode: GetNode): ConsistencyProof {
  if (!(oldLength >= 0 && oldLength <= newLength))
    throw kianaError("CHAIN_BAD_PROOF", `no consistency proof from ${oldLength} to ${newLength}`);
  const need = (index: number) => {
    const hash = getNode(index);
    if (!hash) throw kianaError("CHAIN_BAD_PROOF", `tree node ${index} is missing`, { index });
    return hash;
  };
  const nodes: Uint8Array[] = [];
  walk(oldLength, newLength, need, (index) => {
    const hash = need(index);
    nodes.push(hash);
    return hash;
  });
  return { oldPeaks: fullRoots(oldLength).map(need), nodes };
}

const isHash = (h: unknown): h is Uint8Array => h instanceof Uint8Array && h.length === HASH_BYTES;

/** True when the log with `newRoot` at `newLength` extends the one with `oldRoot`. Never throws. */
export function verifyConsistency(
  oldLength: number,
  oldRoot: Uint8Array,
  newLength: number,
  newRoot: Uint8Array,
  proof: ConsistencyProof,
): boolean {
  if (!Number.isSafeInteger(oldLength) || !Number.isSafeInteger(newLength)) return false;
  if (oldLength < 0 || oldLength > newLength || !isHash(oldRoot) || !isHash(newRoot)) return false;
  if (!proof || !Array.isArray(proof.oldPeaks) || !Array.isArray(proof.nodes)) return false;
  if (!proof.oldPeaks.every(isHash) || !proof.nodes.every(isHash)) return false;
  const oldIndexes = fullRoots(oldLength);
  if (proof.oldPeaks.length !== oldIndexes.length) return false;
  if (!equalBytes(rootHash(oldLength, proof.oldPeaks), oldRoot)) return false;
  const byIndex = new Map(oldIndexes.map((index, i) => [index, proof.oldPeaks[i]]));
  let used = 0;
  const peaks = walk(
    oldLength,
    newLength,
    (index) => byIndex.get(index),
    () => proof.nodes[used++],
  );
  return (
    peaks !== undefined && used === proof.nodes.length && equalBytes(rootHash(newLength, peaks), newRoot)
  );
}
