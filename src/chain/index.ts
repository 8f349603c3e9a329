// The chain capability: per-author append-only logs, Merkle proofs over them and signed roots.
// Other capabilities import from here; only the composition root constructs a store adapter.
export { createMemoryChainStore } from "./adapters/memory.ts";
export { createSqliteChainStore } from "./adapters/sqlite.ts";
export {
  type Block,
  type Decoded,
  decodeBlock,
  encodeBlock,
  KNOWN_BLOCK_TYPES,
  leafHash,
  MAX_BODY_BYTES,
} from "./block.ts";
export { type ConsistencyProof, consistencyProof, verifyConsistency } from "./consistency.ts";
export {
  type BlockWithProof,
  type ChainEntry,
  type ChainLog,
  createChainLog,
  type LogVerdict,
} from "./log.ts";
export { type InclusionProof, inclusionProof, rootOf, verifyInclusion } from "./merkle.ts";
export type { ChainAppend, ChainStore, StoredBlock } from "./ports.ts";
export { type SignedRoot, signRoot, verifySignedRoot } from "./signed-root.ts";
