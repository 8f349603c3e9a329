// What the chain needs from storage. Synchronous (bun:sqlite is), and shaped so that nothing has to
// hold a whole log or tree: single nodes by index, blocks by streaming ranges.
import type { Block } from "./block.ts";
import type { TreeNode } from "./merkle.ts";
import type { SignedRoot } from "./signed-root.ts";

export interface StoredBlock {
  block: Block;
  /** Leaf hash as computed when the block was accepted; `verifyLog` recomputes it. */
  hash: Uint8Array;
}

export interface ChainAppend {
  author: string;
  /** Contiguous blocks of `author`, the first at seq === length(author). */
  blocks: readonly StoredBlock[];
  /** Inner (odd-index) nodes completed by these blocks; leaves are the blocks' hashes. */
  nodes: readonly TreeNode[];
  /** The author's signed root over the new length, stored in the same transaction. */
  root?: SignedRoot;
}

export interface ChainStore {
  /**
   * All or nothing: a gap, a wrong author, a duplicate or a failure part way leaves the store as
   * it was (CHAIN_APPEND_CONFLICT for refusals).
   */
  append(batch: ChainAppend): void;
  length(author: string): number;
  block(author: string, seq: number): StoredBlock | undefined;
  /** Blocks with from <= seq < to, in order, read lazily. */
  blocks(author: string, from: number, to: number): Iterable<StoredBlock>;
  /** A tree node's hash; even indexes are leaf hashes. */
  node(author: string, index: number): Uint8Array | undefined;
  latestSignedRoot(author: string): SignedRoot | undefined;
  /** Keeps a root a peer sent; one longer than the stored blocks is refused. */
  putSignedRoot(root: SignedRoot): void;
  /** Authors with at least one block or root, sorted. */
  authors(): string[];
}
