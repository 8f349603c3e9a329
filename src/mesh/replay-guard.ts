// Replay protection for envelopes: the receiver's highest accepted sequence per sender, and the
// sender's own counter, both kept in SQLite so that a restart neither reopens replays nor reuses numbers.
import type { Store } from "../store/index.ts";

export const DEFAULT_MAX_SKEW_MS = 5 * 60_000;

export type ReplayVerdict = { ok: true } | { ok: false; reason: "replay" | "clock-skew"; detail: string };

/**
 * Rule: seq must be greater than the highest accepted from that sender, and ts within ±maxSkewMs of
 * now. Memory is bounded by the roster: only enrolled, signature-checked senders are ever accepted.
 */
export interface ReplayGuard {
  check(from: string, seq: number, ts: number, now: number, maxSkewMs?: number): ReplayVerdict;
  /** Records seq as accepted; call only after every other check passed. */
  accept(from: string, seq: number): void;
}

function verdict(highest: number | undefined, seq: number, ts: number, now: number, maxSkewMs: number) {
  if (Math.abs(ts - now) > maxSkewMs)
    return {
      ok: false as const,
      reason: "clock-skew" as const,
      detail: `timestamp is ${Math.round((ts - now) / 1000)} s from this node's clock (limit ±${maxSkewMs / 1000} s)`,
    };
  if (highest !== undefined && seq <= highest)
    return { ok: false as const, reason: "replay" as const, detail: `seq ${seq} is not above ${highest}` };
  return { ok: true as const };
}

export function createMemoryReplayGuard(): ReplayGuard & { highest(from: string): number | undefined } {
  const highest = new Map<string, number>();
  return {
    check: (from, seq, ts, now, maxSkewMs = DEFAULT_MAX_SKEW_MS) =>
      verdict(highest.get(from), seq, ts, now, maxSkewMs),
    accept(from, seq) {
      highest.set(from, Math.max(seq, highest.get(from) ?? seq));
    },
    highest: (from) => highest.get(from),
  };
}

export function createSqliteReplayGuard(opts: { store: Store; now?: () => number }): ReplayGuard {
  const { db } = opts.store;
  const now = opts.now ?? Date.now;
  // A read-through cache: the table is the truth, the map saves a query per message.
  const cache = new Map<string, number | undefined>();
  const read = db.query<{ highest_seq: number }, [string]>(
    "SELECT highest_seq FROM mesh_replay WHERE sender = ?",
  );
  const write = db.query<unknown, [string, number, number]>(
    `INSERT INTO mesh_replay (sender, highest_seq, updated_at) VALUES (?1, ?2, ?3)
     ON CONFLICT(sender) DO UPDATE SET highest_seq = max(highest_seq, excluded.highest_seq), updated_at = excluded.updated_at`,
  );
  const highestOf = (from: string) => {
    if (!cache.has(from)) cache.set(from, read.get(from)?.highest_seq);
    return cache.get(from);
  };
  return {
    check: (from, seq, ts, at, maxSkewMs = DEFAULT_MAX_SKEW_MS) =>
      verdict(highestOf(from), seq, ts, at, maxSkewMs),
    accept(from, seq) {
      // synchronous=NORMAL: a power cut may lose the last few marks, but those envelopes are
      // refused anyway once they fall outside the clock window.
      write.run(from, seq, now());
      cache.set(from, Math.max(seq, highestOf(from) ?? seq));
    },
  };
}

export interface SequenceCounter {
  next(): number;
}

/**
 * The sender's own sequence, monotonic across restarts. Numbers are reserved durably in blocks, so
 * there is one disk write per block rather than per message; a crash skips the rest of a block,
 * which receivers accept (they need only increasing numbers). With `timeFloor` (default on) the
 * counter also starts at or above now*1000, so a node whose database was restored from a backup
 * still counts above what receivers have seen (unless it sent over 1000 messages per ms).
 */
export function createSequenceCounter(
  store: Store,
  opts: { sender: string; now?: () => number; blockSize?: number; timeFloor?: boolean },
): SequenceCounter {
  const blockSize = opts.blockSize ?? 1000;
  const clock = opts.now ?? Date.now;
  const row = store.db
    .query<{ reserved: number }, [string]>("SELECT reserved FROM mesh_sequence WHERE sender = ?")
    .get(opts.sender);
  // Clamped well below 2^53 so that an absurd clock cannot exhaust the range.
  const floor = opts.timeFloor === false ? 0 : Math.max(0, Math.min(clock() * 1000, 2 ** 52));
  let next = Math.max(row?.reserved ?? 0, floor) + 1;
  let reserved = next - 1;
  const reserve = store.db.query<unknown, [string, number, number]>(
    `INSERT INTO mesh_sequence (sender, reserved, updated_at) VALUES (?1, ?2, ?3)
     ON CONFLICT(sender) DO UPDATE SET reserved = excluded.reserved, updated_at = excluded.updated_at`,
  );
  return {
    next() {
      if (next > reserved) {
        const upTo = next + blockSize - 1;
        store.transaction(() => reserve.run(opts.sender, upTo, clock()), { durable: true });
        reserved = upTo;
      }
      return next++;
    },
  };
}
