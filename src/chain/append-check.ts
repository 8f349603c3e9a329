// The refusals every ChainStore makes before writing, shared so that the memory and SQLite
// adapters refuse exactly the same batches.
import { kianaError } from "../errors.ts";
import { blockProblem, HASH_BYTES } from "./block.ts";
import type { ChainAppend } from "./ports.ts";
import type { SignedRoot } from "./signed-root.ts";

const isHash = (h: unknown) => h instanceof Uint8Array && h.length === HASH_BYTES;

function conflict(message: string, details: Record<string, unknown> = {}) {
  return kianaError("CHAIN_APPEND_CONFLICT", message, details);
}

/** Throws CHAIN_APPEND_CONFLICT unless `batch` extends a log that is `length` blocks long. */
export function checkAppend(batch: ChainAppend, length: number): void {
  const { author } = batch;
  batch.blocks.forEach(({ block, hash }, i) => {
    const problem = blockProblem(block);
    if (problem) throw conflict(`block ${i} of the batch is malformed: ${problem}`, { author });
    if (block.author !== author) throw conflict(`block ${i} is by ${block.author}, not ${author}`);
    if (block.seq !== length + i)
      throw conflict(`block ${i} has seq ${block.seq}, expected ${length + i}`, { author, length });
    if (!isHash(hash)) throw conflict(`block ${i} has no 32-byte hash`, { author });
  });
  for (const node of batch.nodes) {
    if (!Number.isSafeInteger(node.index) || node.index % 2 !== 1 || !isHash(node.hash))
      throw conflict(`tree node ${node.index} is not an inner node with a 32-byte hash`, { author });
  }
  if (batch.root) checkRoot(batch.root, length + batch.blocks.length);
  if (batch.root && batch.root.author !== author) throw conflict("the signed root is by another author");
}

/** A root is only kept for blocks the store holds, so every stored root can be checked locally. */
export function checkRoot(root: SignedRoot, storedLength: number): void {
  if (typeof root?.author !== "string" || !/^[0-9a-f]{32}$/.test(root.author))
    throw conflict("the signed root names no author");
  if (!Number.isSafeInteger(root.length) || root.length < 0 || root.length > storedLength)
    throw conflict(`a signed root for length ${root.length} but ${storedLength} blocks are stored`, {
      author: root.author,
    });
  if (!isHash(root.root) || !(root.signature instanceof Uint8Array) || !Number.isSafeInteger(root.ts))
    throw conflict("the signed root is malformed", { author: root.author });
}
