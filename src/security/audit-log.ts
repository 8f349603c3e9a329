// The audit log: security-relevant events, hash-linked so that an edited or deleted row is
// detectable, written durably (synchronous=FULL) because it must survive power loss.
import { createHash } from "node:crypto";
import type { Store } from "../store/index.ts";

export interface AuditEvent {
  seq: number;
  at: number;
  actor: string;
  action: string;
  detail: string;
  hash: string;
}

export interface AuditLog {
  append(event: { actor: string; action: string; detail?: string }): AuditEvent;
  recent(limit: number): AuditEvent[];
  /** The first row whose hash does not follow from its predecessor, or null when the chain is intact. */
  verify(): { seq: number; reason: string } | null;
}

const GENESIS = "0".repeat(64);

function hashOf(prev: string, at: number, actor: string, action: string, detail: string): string {
  return createHash("sha256")
    .update(JSON.stringify(["kiana/audit/v1", prev, at, actor, action, detail]))
    .digest("hex");
}

export function createAuditLog(opts: { store: Store; now?: () => number }): AuditLog {
  const { store } = opts;
  const now = opts.now ?? Date.now;
  return {
    append({ actor, action, detail = "" }) {
      return store.transaction(
        (db) => {
          const last = db
            .query<{ hash: string }, []>("SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .get();
          const prev = last?.hash ?? GENESIS;
          const at = now();
          const hash = hashOf(prev, at, actor, action, detail);
          const row = db
            .query<{ seq: number }, [number, string, string, string, string, string]>(
              "INSERT INTO audit_log (at, actor, action, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?) RETURNING seq",
            )
            .get(at, actor, action, detail, prev, hash);
          return { seq: row?.seq ?? 0, at, actor, action, detail, hash };
        },
        { durable: true },
      );
    },
    recent(limit) {
      return store.db
        .query<AuditEvent, [number]>(
          "SELECT seq, at, actor, action, detail, hash FROM audit_log ORDER BY seq DESC LIMIT ?",
        )
        .all(limit);
    },
    verify() {
      let prev = GENESIS;
      // Iterate rather than load: the log grows without bound on a long-lived device.
      for (const row of store.db
        .query<AuditEvent & { prev_hash: string }, []>("SELECT * FROM audit_log ORDER BY seq")
        .iterate()) {
        if (row.prev_hash !== prev) return { seq: row.seq, reason: "does not link to the previous entry" };
        if (hashOf(prev, row.at, row.actor, row.action, row.detail) !== row.hash) {
          return { seq: row.seq, reason: "content does not match its hash" };
        }
        prev = row.hash;
      }
      return null;
    },
  };
}
