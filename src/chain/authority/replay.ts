// Reads of the indexed authority tables, and the replay that derives from them, height by height,
// the chosen final checkpoints and the validator set. Each height loads only its own proposals.
import type { Database } from "bun:sqlite";
import { type Head, type ValidatorVoteKind, ZERO_ID } from "./bodies.ts";
import { type HeightOutcome, rankHeight } from "./checkpoints.ts";
import { nextValidators, type TransitionVotes } from "./validators.ts";

export interface CheckpointRow {
  id: string;
  height: number;
  prev: string;
  proposer: string;
  seq: number;
  ts: number;
  heads: number;
}

export interface FinalRow {
  height: number;
  id: string;
  signers: number;
}

export type Replay = ReturnType<typeof createReplay>;

export function createReplay(db: Database) {
  const q = {
    finalHeight: db.query<{ h: number | null }, []>("SELECT max(height) AS h FROM chain_final"),
    final: db.query<FinalRow, [number]>("SELECT * FROM chain_final WHERE height = ?"),
    checkpoint: db.query<CheckpointRow, [string]>("SELECT * FROM chain_checkpoint WHERE id = ?"),
    heads: db.query<Head, [string]>(
      "SELECT author, length, root FROM chain_checkpoint_head WHERE id = ? ORDER BY author",
    ),
    headLength: db.query<{ length: number }, [string, string]>(
      "SELECT length FROM chain_checkpoint_head WHERE id = ? AND author = ?",
    ),
    proposals: db.query<CheckpointRow, [number, string, string]>(
      `SELECT * FROM chain_checkpoint WHERE height = ? AND prev = ?
        AND proposer IN (SELECT value FROM json_each(?))`,
    ),
    endorsements: db.query<{ endorser: string; checkpoint: string }, [number, string]>(
      `SELECT DISTINCT endorser, checkpoint FROM chain_endorsement WHERE height = ?
        AND endorser IN (SELECT value FROM json_each(?))`,
    ),
    members: db.query<{ fingerprint: string }, [number, number]>(
      `SELECT fingerprint FROM chain_validator WHERE from_height <= ?
        AND (to_height IS NULL OR to_height > ?) ORDER BY fingerprint`,
    ),
    since: db.query<{ from_height: number }, [string, number, number]>(
      `SELECT from_height FROM chain_validator WHERE fingerprint = ? AND from_height <= ?
        AND (to_height IS NULL OR to_height > ?)`,
    ),
    lastChange: db.query<{ h: number | null }, [string]>(
      "SELECT max(max(from_height, coalesce(to_height, 0))) AS h FROM chain_validator WHERE fingerprint = ?",
    ),
    newTargets: db.query<{ validator: string }, [string, number, number]>(
      "SELECT DISTINCT validator FROM chain_vote WHERE voter = ? AND seq >= ? AND seq < ?",
    ),
    latest: db.query<{ kind: ValidatorVoteKind }, [string, string, number, number]>(
      `SELECT kind FROM chain_vote WHERE voter = ? AND validator = ? AND seq >= ? AND seq < ?
        ORDER BY seq DESC LIMIT 1`,
    ),
    add: db.query<void, [string, number]>(
      "INSERT INTO chain_validator (fingerprint, from_height, to_height) VALUES (?, ?, NULL)",
    ),
    remove: db.query<void, [number, string]>(
      "UPDATE chain_validator SET to_height = ? WHERE fingerprint = ? AND to_height IS NULL",
    ),
    putFinal: db.query<void, [number, string, number]>(
      "INSERT INTO chain_final (height, id, signers) VALUES (?, ?, ?)",
    ),
  };

  const finalHeight = () => q.finalHeight.get()?.h ?? 0;
  const final = (height: number) => q.final.get(height) ?? undefined;
  const heads = (id: string) => q.heads.all(id);
  const validatorsAt = (height: number) => q.members.all(height, height).map((r) => r.fingerprint);
  /** How much of `author`'s log the chosen checkpoint at `height` covers (0 before height 1). */
  const coveredAt = (height: number, author: string): number => {
    const id = height > 0 ? final(height)?.id : undefined;
    return id ? (q.headLength.get(id, author)?.length ?? 0) : 0;
  };

  /** Proposals and endorsements at `height` judged against the set in force there. */
  function outcomeAt(height: number, validators = validatorsAt(height)): HeightOutcome {
    const prevId = height === 1 ? ZERO_ID : final(height - 1)?.id;
    if (!prevId) return { ranked: [], equivocators: [] };
    const set = JSON.stringify(validators);
    const proposals = q.proposals.all(height, prevId, set).map((p) => ({ ...p, heads: heads(p.id) }));
    return rankHeight({
      height,
      validators,
      prevId,
      prevHeads: height === 1 ? [] : heads(prevId),
      proposals,
      endorsements: q.endorsements.all(height, set),
    });
  }

  /** Writes the set for `height` + 1 from the set at `height` and the votes its checkpoint covers. */
  function transition(height: number): string[] {
    const current = validatorsAt(height);
    const votes: TransitionVotes = {
      newTargets: (voter) =>
        q.newTargets
          .all(voter, coveredAt(height - 1, voter), coveredAt(height, voter))
          .map((r) => r.validator),
      latest(voter, validator) {
        // Interval ends are the first height of the new set, so the change happened one height earlier.
        const changed = Math.max(0, (q.lastChange.get(validator)?.h ?? 1) - 1);
        const from = coveredAt(Math.min(changed, height), voter);
        return q.latest.get(voter, validator, from, coveredAt(height, voter))?.kind;
      },
    };
    const { validators, changes } = nextValidators(current, votes);
    for (const c of changes) {
      if (c.kind === "add-validator") q.add.run(c.validator, height + 1);
      else q.remove.run(height + 1, c.validator);
    }
    return validators;
  }

  /** Forgets everything derived from `height` on, so it can be replayed. */
  function truncate(height: number): void {
    db.run("DELETE FROM chain_final WHERE height >= ?", [height]);
    db.run("DELETE FROM chain_validator WHERE from_height >= ?", [height]);
    db.run("UPDATE chain_validator SET to_height = NULL WHERE to_height >= ?", [height]);
  }

  return {
    finalHeight,
    final,
    heads,
    validatorsAt,
    coveredAt,
    outcomeAt,
    checkpoint: (id: string) => q.checkpoint.get(id) ?? undefined,
    /** The height from which `fp` has been a member without a break, as of `height`. */
    memberSince: (fp: string, height: number) => q.since.get(fp, height, height)?.from_height,
    /** The lowest chosen height whose checkpoint covers block `seq` of `author`, by binary search. */
    coveringHeight(author: string, seq: number): number | undefined {
      let lo = 1;
      let hi = finalHeight();
      if (coveredAt(hi, author) <= seq) return undefined;
      while (lo < hi) {
        const mid = Math.floor((lo + hi) / 2);
        if (coveredAt(mid, author) > seq) hi = mid;
        else lo = mid + 1;
      }
      return lo;
    },
    /**
     * Replays from `from` (never past the first height not yet final) for at most `budget` heights.
     * Returns the height to continue from, or undefined when it reached a height that is not final.
     */
    walk(from: number, budget: number, genesis: readonly string[]): number | undefined {
      let height = Math.max(1, Math.min(from, finalHeight() + 1));
      truncate(height);
      for (let step = 0; step < budget; step++, height++) {
        let validators: string[];
        if (height === 1) {
          validators = [...genesis];
          for (const fp of validators) q.add.run(fp, 1);
        } else validators = transition(height - 1);
        const best = outcomeAt(height, validators).ranked[0];
        if (!best?.final) return undefined;
        q.putFinal.run(height, best.id, best.signers);
      }
      return height;
    },
  };
}
