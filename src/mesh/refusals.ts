// Refused mesh messages: every refusal is counted (for /metrics), but the audit log gets one entry
// per sender and reason, so a flood of bad messages cannot flood the durable, hash-linked log.
import type { AuditLog } from "../security/index.ts";
import { DIRECT_REFUSALS } from "./e2e.ts";
import { ENVELOPE_REFUSALS } from "./envelope.ts";

export const REFUSAL_REASONS = [...new Set([...ENVELOPE_REFUSALS, ...DIRECT_REFUSALS])];
export type RefusalReason = (typeof ENVELOPE_REFUSALS)[number] | (typeof DIRECT_REFUSALS)[number];

export interface RefusalLog {
  /** `from` is the claimed sender fingerprint; undefined when the message was too broken to say. */
  refuse(from: string | undefined, reason: RefusalReason, detail: string): void;
  /** Every reason, zeros included, so /metrics shows a series before its first refusal. */
  counts(): { reason: RefusalReason; count: number }[];
}

export interface RefusalLogOptions {
  audit: Pick<AuditLog, "append">;
  now: () => number;
  /** Distinct (sender, reason) pairs remembered; beyond it the oldest is forgotten. Default 10 000. */
  maxPairs?: number;
  /**
   * After this long a pair that is still being refused is written again, with the number of
   * refusals since, so an ongoing problem stays visible in the log. Default 24 h; Infinity: once.
   */
  repeatAfterMs?: number;
  /**
   * At most this many refusal entries per `auditWindowMs` (default 200 per hour). The sender of an
   * unknown-sender or bad-signature refusal is only claimed, so a peer inventing fingerprints would
   * otherwise make every message a new pair. Past the budget one "suppressed" entry is written.
   */
  auditBudget?: number;
  auditWindowMs?: number;
  /** Called when the audit log cannot be written; the refusal is still counted. */
  onAuditError?: (err: unknown) => void;
}

const MAX_DETAIL = 300;

export function createRefusalLog(opts: RefusalLogOptions): RefusalLog {
  const maxPairs = opts.maxPairs ?? 10_000;
  const repeatAfterMs = opts.repeatAfterMs ?? 86_400_000;
  const counts = new Map<RefusalReason, number>(REFUSAL_REASONS.map((r) => [r, 0]));
  // Insertion order is age order: a pair is re-inserted when written, the first key is the oldest.
  const pairs = new Map<string, { loggedAt: number; since: number }>();
  const budget = opts.auditBudget ?? 200;
  const windowMs = opts.auditWindowMs ?? 3_600_000;
  let windowStart = Number.NEGATIVE_INFINITY;
  let written = 0;

  const append = (event: { actor: string; action: string; detail: string }): boolean => {
    try {
      opts.audit.append(event);
      return true;
    } catch (err) {
      opts.onAuditError?.(err);
      return false;
    }
  };

  return {
    refuse(from, reason, detail) {
      counts.set(reason, (counts.get(reason) ?? 0) + 1);
      const key = `${from ?? ""}\u0000${reason}`;
      const seen = pairs.get(key);
      const at = opts.now();
      if (seen && at - seen.loggedAt < repeatAfterMs) {
        seen.since++;
        return;
      }
      if (at - windowStart >= windowMs) {
        windowStart = at;
        written = 0;
      }
      if (written >= budget) {
        // Not remembered as written: it is written once the budget is back.
        if (seen) seen.since++;
        return;
      }
      const more = seen && seen.since > 0 ? ` (${seen.since} more since the last entry)` : "";
      const ok = append({
        actor: `mesh:${from ?? "unknown"}`,
        action: `mesh.refused.${reason}`,
        detail: `${detail.slice(0, MAX_DETAIL)}${more}`,
      });
      // Not remembered on failure, so the next refusal of this pair tries the log again.
      if (!ok) return;
      written++;
      if (written === budget)
        append({
          actor: "mesh",
          action: "mesh.refused.suppressed",
          detail: `${budget} refusal entries within ${Math.round(windowMs / 60_000)} min; further refusals are only counted (see /metrics) until ${new Date(windowStart + windowMs).toISOString()}`,
        });
      pairs.delete(key);
      pairs.set(key, { loggedAt: at, since: 0 });
      while (pairs.size > maxPairs) {
        const oldest = pairs.keys().next().value;
        if (oldest === undefined) break;
        pairs.delete(oldest);
      }
    },
    counts: () => [...counts].map(([reason, count]) => ({ reason, count })),
  };
}
