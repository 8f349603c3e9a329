// A flat in-order Merkle tree over one log: leaf k sits at node index 2k, inner nodes at odd
// indexes. Pure index math plus hashing; nodes come through a getter so no tree is ever loaded whole.
import { createHash } from "node:crypto";
import { kianaError } from "../errors.ts";
import { chainParentBytes, chainTreeBytes } from "../identity/signed-bytes.ts";
import { equalBytes, HASH_BYTES } from "./block.ts";

export type GetNode = (index: number) => Uint8Array | undefined;

export interface TreeNode {
  index: number;
  hash: Uint8Array;
}

/** Siblings from the leaf up to its full-subtree root, then the other full-subtree roots in order. */
export interface InclusionProof {
  siblings: Uint8Array[];
  peaks: Uint8Array[];
}

// Arithmetic rather than bit operators: indexes pass 2^31 long before a log gets unwieldy.
const pow2 = (d: number) => 2 ** d;

/** Height above the leaves: the number of trailing one bits. */
export function depth(index: number): number {
  let d = 0;
  for (let x = index; x % 2 === 1; x = (x - 1) / 2) d++;
  return d;
}

/** Position among the nodes of the same depth, left to right. */
export function offset(index: number): number {
  return Math.floor(index / pow2(depth(index) + 1));
}

export function nodeIndex(d: number, off: number): number {
  return (2 * off + 1) * pow2(d) - 1;
}

export function parent(index: number): number {
  return nodeIndex(depth(index) + 1, Math.floor(offset(index) / 2));
}

export function sibling(index: number): number {
  const o = offset(index);
  return nodeIndex(depth(index), o % 2 === 0 ? o + 1 : o - 1);
}

export function children(index: number): [number, number] | undefined {
  const d = depth(index);
  if (d === 0) return undefined;
  const o = offset(index);
  return [nodeIndex(d - 1, 2 * o), nodeIndex(d - 1, 2 * o + 1)];
}

/** The leaves a node covers, as leaf numbers [first, end). */
export function span(index: number): [number, number] {
  const width = pow2(depth(index));
  const first = offset(index) * width;
  return [first, first + width];
}

/** Full-subtree roots ("peaks") of a log of `length` leaves, left to right, largest first. */
export function fullRoots(length: number): number[] {
  const roots: number[] = [];
  let start = 0;
  for (let d = Math.floor(Math.log2(Math.max(length, 1))) + 1; d >= 0; d--) {
    const width = pow2(d);
    if (start + width <= length) {
      roots.push(nodeIndex(d, start / width));
      start += width;
    }
  }
  return roots;
}

const sha256 = (bytes: Uint8Array) => new Uint8Array(createHash("sha256").update(bytes).digest());

export function parentHash(left: Uint8Array, right: Uint8Array, leaves: number): Uint8Array {
  return sha256(chainParentBytes(left, right, leaves));
}

/** The root of a log of `length` leaves from its peaks (an empty log has a root too). */
export function rootHash(length: number, peaks: readonly Uint8Array[]): Uint8Array {
  return sha256(chainTreeBytes(length, peaks));
}

function need(getNode: GetNode, index: number): Uint8Array {
  const hash = getNode(index);
  if (hash === undefined) throw kianaError("CHAIN_BAD_PROOF", `tree node ${index} is missing`, { index });
  return hash;
}

/**
 * The inner nodes completed by appending leaf number `leaf`: O(log n), each needing only its left
 * sibling, which is already stored (or in `getNode` from earlier in the same batch).
 */
export function nodesForAppend(leaf: number, hash: Uint8Array, getNode: GetNode): TreeNode[] {
  const made: TreeNode[] = [];
  let index = 2 * leaf;
  let current = hash;
  while (offset(index) % 2 === 1) {
    const up = parent(index);
    current = parentHash(need(getNode, sibling(index)), current, pow2(depth(up)));
    made.push({ index: up, hash: current });
    index = up;
  }
  return made;
}

/** The root hash of a log of `length` leaves, reading only its O(log n) peaks. */
export function rootOf(length: number, getNode: GetNode): Uint8Array {
  return rootHash(
    length,
    fullRoots(length).map((i) => need(getNode, i)),
  );
}

function peakOf(leaf: number, length: number): number | undefined {
  return fullRoots(length).find((p) => {
    const [first, end] = span(p);
    return leaf >= first && leaf < end;
  });
}

export function inclusionProof(leaf: number, length: number, getNode: GetNode): InclusionProof {
  const peak = peakOf(leaf, length);
  if (peak === undefined) throw kianaError("CHAIN_BAD_PROOF", `leaf ${leaf} is not in a log of ${length}`);
  const siblings: Uint8Array[] = [];
  for (let i = 2 * leaf; i !== peak; i = parent(i)) siblings.push(need(getNode, sibling(i)));
  const peaks = fullRoots(length)
    .filter((p) => p !== peak)
    .map((p) => need(getNode, p));
  return { siblings, peaks };
}

const isHash = (h: unknown): h is Uint8Array => h instanceof Uint8Array && h.length === HASH_BYTES;

/** True when `leafHash` is leaf number `leaf` of the log whose root is `root`. Never throws. */
export function verifyInclusion(
  leafHashValue: Uint8Array,
  leaf: number,
  length: number,
  proof: InclusionProof,
  root: Uint8Array,
): boolean {
  if (!Number.isSafeInteger(leaf) || !Number.isSafeInteger(length) || leaf < 0 || leaf >= length)
    return false;
  if (!proof || !Array.isArray(proof.siblings) || !Array.isArray(proof.peaks)) return false;
  if (!isHash(leafHashValue) || !isHash(root)) return false;
  if (!proof.siblings.every(isHash) || !proof.peaks.every(isHash)) return false;
  const peaks = fullRoots(length);
  const peak = peakOf(leaf, length);
  if (peak === undefined || proof.peaks.length !== peaks.length - 1) return false;
  let index = 2 * leaf;
  let current = leafHashValue;
  let used = 0;
  for (; index !== peak; index = parent(index)) {
    const other = proof.siblings[used++];
    if (other === undefined) return false;
    const leftSide = offset(index) % 2 === 0;
    const leaves = pow2(depth(index) + 1);
    current = leftSide ? parentHash(current, other, leaves) : parentHash(other, current, leaves);
  }
  if (used !== proof.siblings.length) return false;
  const all = [...proof.peaks];
  all.splice(peaks.indexOf(peak), 0, current);
  return equalBytes(rootHash(length, all), root);
}
