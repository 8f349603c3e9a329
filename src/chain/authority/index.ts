// Proof-of-authority over the chain's logs: validator votes, checkpoints with deterministic fork
// choice, and trust in authors' knowledge. Other capabilities import from here.
export {
  type AuthorityStatus,
  type ChainAuthority,
  type ChainAuthorityOptions,
  createChainAuthority,
  type EndorseOutcome,
} from "./authority.ts";
export {
  type BlockVoteKind,
  type CheckpointBody,
  decodeCheckpoint,
  decodeVote,
  encodeCheckpoint,
  encodeVote,
  type Head,
  MAX_AUTHORITY_BODY_BYTES,
  type ValidatorVoteKind,
  type VoteBody,
  ZERO_ID,
} from "./bodies.ts";
export { compareCandidates, inTurnProposer, rankHeight } from "./checkpoints.ts";
export { rankByTrust, trustScore, trustWeighted } from "./trust.ts";
export { genesisValidators, majority } from "./validators.ts";
