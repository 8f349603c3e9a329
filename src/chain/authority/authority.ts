// Proof-of-authority over the logs as one device runs it: propose and endorse checkpoints, vote,
// and answer status and trust. Everything it writes is an ordinary block in this device's own log.
import { kianaError } from "../../errors.ts";
import type { NodeKeys } from "../../identity/node-keys.ts";
import type { Clock } from "../../platform/clock.ts";
import type { Store } from "../../store/index.ts";
import type { ChainLog } from "../log.ts";
import { rootOf } from "../merkle.ts";
import type { ChainStore, StoredBlock } from "../ports.ts";
import type { ChainAuthorityStatus, ChainAuthorView, CheckpointView } from "../view.ts";
import {
  type BlockVoteKind,
  encodeCheckpoint,
  encodeVote,
  type Head,
  type ValidatorVoteKind,
  ZERO_ID,
} from "./bodies.ts";
import { type Candidate, headsExtend, inTurnProposer } from "./checkpoints.ts";
import { createAuthorityState } from "./state.ts";
import { trustScore } from "./trust.ts";
import { genesisValidators, majority } from "./validators.ts";

export interface ChainAuthorityOptions {
  store: Store;
  chain: ChainLog;
  chainStore: ChainStore;
  keys: NodeKeys;
  clock: Clock;
  /** Fingerprints of the validators at height 1; empty means this device alone (a fleet of one). */
  genesisValidators: readonly string[];
  /** How long a height with new blocks waits for its in-turn proposer before any validator proposes. */
  proposeTimeoutMs?: number;
}

/** The shared status view plus the equivocations this device has seen, for the admin page. */
export interface AuthorityStatus extends ChainAuthorityStatus {
  equivocations: { height: number; endorser: string }[];
}

export type EndorseOutcome = { endorsed: string; height: number } | { endorsed?: undefined; reason: string };

export interface ChainAuthority {
  status(): AuthorityStatus;
  /** The set for the next height to become final, sorted. */
  validators(): string[];
  isValidator(fp: string): boolean;
  /** One proposal per validator per height: a second call returns the first. */
  proposeCheckpoint(): { id: string; height: number; created: boolean };
  endorsePending(): EndorseOutcome;
  /** What a running node calls every interval. */
  tick(): { proposed?: string; endorsed?: string };
  vote(kind: ValidatorVoteKind, validator: string): StoredBlock;
  vote(kind: BlockVoteKind, author: string, seq: number): StoredBlock;
  /** In [0, 1]; 0.5 for an author nobody voted on. */
  trust(author: string): number;
  authorsView(): ChainAuthorView[];
  rebuild(): void;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

export function createChainAuthority(opts: ChainAuthorityOptions): ChainAuthority {
  const { store, chain, chainStore, keys, clock } = opts;
  const self = keys.fingerprint;
  const timeout = opts.proposeTimeoutMs ?? 5 * 60_000;
  const state = createAuthorityState({ store, genesis: genesisValidators(opts.genesisValidators, self) });
  const { replay } = state;
  // Checkpoint blocks are left out: otherwise every checkpoint would be news calling for the next.
  const newsQ = store.db.query<{ one: number }, [string, number, number]>(
    "SELECT 1 AS one FROM chain_block WHERE author = ? AND seq >= ? AND seq < ? AND type <> 'checkpoint' LIMIT 1",
  );
  let waiting: { key: string; since: number } | undefined;

  /** The next height to become final, what it builds on, and who may sign it. */
  function frontier() {
    state.refresh();
    const final = replay.finalHeight();
    const height = final + 1;
    const prev = final === 0 ? ZERO_ID : (replay.final(final)?.id ?? ZERO_ID);
    return {
      height,
      prev,
      prevHeads: final === 0 ? [] : replay.heads(prev),
      validators: replay.validatorsAt(height),
    };
  }

  /** The latest signed root of every author this device holds. */
  function ownHeads(): Head[] {
    const heads: Head[] = [];
    for (const author of chainStore.authors()) {
      const root = chainStore.latestSignedRoot(author);
      if (root && root.length > 0) heads.push({ author, length: root.length, root: hex(root.root) });
    }
    return heads;
  }

  /** True when this device's own blocks give the same root at that length. */
  function holds(head: Head): boolean {
    if (chainStore.length(head.author) < head.length) return false;
    try {
      return hex(rootOf(head.length, (i) => chainStore.node(head.author, i))) === head.root;
    } catch {
      return false;
    }
  }

  function requireValidator(validators: readonly string[], action: string) {
    if (!validators.includes(self))
      throw kianaError("CHAIN_NOT_VALIDATOR", `this device is not a validator, so it cannot ${action}`, {
        device: self,
      });
  }

  function proposeCheckpoint() {
    const { height, prev, prevHeads, validators } = frontier();
    requireValidator(validators, "propose a checkpoint");
    const existing = state.proposedAt(self, height, prev);
    if (existing) return { id: existing, height, created: false };
    const heads = ownHeads();
    if (!headsExtend(prevHeads, heads))
      throw kianaError(
        "CHAIN_CHECKPOINT_INVALID",
        `this device holds less than final checkpoint ${height - 1} recorded; sync before proposing`,
        { height },
      );
    const block = chain.append(
      "checkpoint",
      encodeCheckpoint({ v: 1, kind: "propose", height, prev, heads }),
    );
    state.refresh();
    return { id: hex(block.hash), height, created: true };
  }

  function endorsePending(): EndorseOutcome {
    const { height, validators } = frontier();
    requireValidator(validators, "endorse a checkpoint");
    if (state.endorsedAt(self, height)) return { reason: `already endorsed a proposal at height ${height}` };
    const best = replay.outcomeAt(height, validators).ranked[0];
    if (!best) return { reason: `no proposal at height ${height}` };
    if (best.proposer === self) return { reason: "this device's own proposal leads; it signed it already" };
    const missing = replay.heads(best.id).find((h) => !holds(h));
    if (missing) return { reason: `waiting for ${missing.author}'s log up to ${missing.length}` };
    chain.append("checkpoint", encodeCheckpoint({ v: 1, kind: "endorse", checkpoint: best.id, height }));
    state.refresh();
    return { endorsed: best.id, height };
  }

  /** Blocks other than checkpoints past what the last final checkpoint recorded. */
  function hasNews(prevHeads: readonly Head[]): boolean {
    const recorded = new Map(prevHeads.map((h) => [h.author, h.length]));
    return ownHeads().some((h) => newsQ.get(h.author, recorded.get(h.author) ?? 0, h.length) !== null);
  }

  function tick() {
    const { height, prev, prevHeads, validators } = frontier();
    if (!validators.includes(self)) return {};
    const out: { proposed?: string; endorsed?: string } = {};
    const quiet = !hasNews(prevHeads) || replay.outcomeAt(height, validators).ranked.length > 0;
    if (quiet || state.proposedAt(self, height, prev)) waiting = undefined;
    else {
      const key = `${height}:${prev}`;
      if (waiting?.key !== key) waiting = { key, since: clock.monotonic() };
      const due = inTurnProposer(validators, height) === self || clock.monotonic() - waiting.since >= timeout;
      // A device still missing what the last checkpoint recorded waits for sync rather than failing.
      if (due && headsExtend(prevHeads, ownHeads())) out.proposed = proposeCheckpoint().id;
    }
    const endorsed = endorsePending();
    if (endorsed.endorsed) out.endorsed = endorsed.endorsed;
    return out;
  }

  function vote(kind: ValidatorVoteKind | BlockVoteKind, target: string, seq?: number): StoredBlock {
    let body: Uint8Array;
    if (kind === "add-validator" || kind === "remove-validator") {
      body = encodeVote({ v: 1, kind, validator: target });
      requireValidator(frontier().validators, "vote on validators");
    } else {
      body = encodeVote({ v: 1, kind, author: target, seq: seq as number });
      if (target === self)
        throw kianaError("CHAIN_VOTE_INVALID", "a device cannot vote on its own knowledge");
      if (chainStore.block(target, seq as number)?.block.type !== "knowledge")
        throw kianaError(
          "CHAIN_VOTE_INVALID",
          `block ${seq} of ${target} is not knowledge this device holds`,
          {
            author: target,
            seq,
          },
        );
    }
    const block = chain.append("vote", body);
    state.refresh();
    return block;
  }

  const view = (c: Pick<Candidate, "id" | "signers" | "final">): CheckpointView | undefined => {
    const row = replay.checkpoint(c.id);
    return row && { ...c, height: row.height, proposer: row.proposer, ts: row.ts, heads: row.heads };
  };

  function status(): AuthorityStatus {
    const { height, validators } = frontier();
    const final = replay.final(height - 1);
    const lastFinal = final && view({ ...final, final: true });
    const best = replay.outcomeAt(height, validators).ranked[0];
    return {
      validators: validators.map((fingerprint) => ({
        fingerprint,
        self: fingerprint === self,
        sinceHeight: replay.memberSince(fingerprint, height) ?? height,
      })),
      majority: majority(validators.length),
      latest: (best && view(best)) ?? lastFinal,
      lastFinal,
      pending: state.pendingCount(height - 1, validators),
      // Only validators' double endorsements matter; anyone else's count for nothing anyway.
      equivocations: state
        .equivocations()
        .filter((e) => replay.validatorsAt(Math.min(e.height, height)).includes(e.endorser)),
    };
  }

  const trust = (author: string) => {
    state.refresh();
    return trustScore(state.trustCounts(author));
  };

  return {
    status,
    validators: () => frontier().validators,
    isValidator: (fp) => frontier().validators.includes(fp),
    proposeCheckpoint,
    endorsePending,
    tick,
    vote: vote as ChainAuthority["vote"],
    trust,
    authorsView: () =>
      chainStore.authors().map((author) => ({
        author,
        length: chainStore.length(author),
        signedLength: chainStore.latestSignedRoot(author)?.length ?? 0,
        trust: trust(author),
      })),
    rebuild: () => state.rebuild(),
  };
}
