// The author directory and peer scores on the node's SQLite database (migration 7). Both are tiny
// tables, one row per author or peer, so every call is a single indexed statement.
import type { Store } from "../../store/database.ts";
import type { AuthorKeys, KnownAuthor, PeerScores } from "./ports.ts";

interface AuthorRow {
  author: string;
  signing_key: Uint8Array;
  certificate: string | null;
  role: string | null;
}

export function createSqliteAuthorKeys(opts: { store: Store; now: () => number }): AuthorKeys {
  const db = opts.store.db;
  const getQ = db.query<AuthorRow, [string]>("SELECT * FROM chain_author WHERE author = ?");
  // A certificate learned later (after enrolment) replaces a bare key; a key never changes author.
  const putQ = db.query(
    `INSERT INTO chain_author (author, signing_key, certificate, role, added_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (author) DO UPDATE SET certificate = coalesce(excluded.certificate, certificate),
       role = coalesce(excluded.role, role)`,
  );
  const cache = new Map<string, KnownAuthor>();
  return {
    get(author) {
      const hit = cache.get(author);
      if (hit) return hit;
      const row = getQ.get(author);
      if (!row) return undefined;
      const entry: KnownAuthor = {
        author,
        signingKey: new Uint8Array(row.signing_key),
        certificate: row.certificate ?? undefined,
        role: row.role ?? undefined,
      };
      cache.set(author, entry);
      return entry;
    },
    remember(entry) {
      putQ.run(entry.author, entry.signingKey, entry.certificate ?? null, entry.role ?? null, opts.now());
      cache.delete(entry.author);
    },
  };
}

export function createSqlitePeerScores(opts: { store: Store; now: () => number }): PeerScores {
  const db = opts.store.db;
  const upsert = (peer: string) =>
    db.run("INSERT OR IGNORE INTO chain_peer (peer, updated_at) VALUES (?, ?)", [peer, opts.now()]);
  const receivedQ = db.query(
    `UPDATE chain_peer SET received = received + ?, score = min(score + 1, 100), last_sync_at = ?,
       updated_at = ? WHERE peer = ?`,
  );
  const lastQ = db.query<{ last_reason: string | null }, [string]>(
    "SELECT last_reason FROM chain_peer WHERE peer = ?",
  );
  const refusedQ = db.query(
    `UPDATE chain_peer SET refused = refused + 1, score = max(score - 10, -1000), last_reason = ?,
       updated_at = ? WHERE peer = ?`,
  );
  const scoreQ = db.query<{ score: number }, [string]>("SELECT score FROM chain_peer WHERE peer = ?");
  return {
    received(peer, blocks) {
      upsert(peer);
      receivedQ.run(blocks, opts.now(), opts.now(), peer);
    },
    refused(peer, reason) {
      upsert(peer);
      const first = lastQ.get(peer)?.last_reason !== reason;
      refusedQ.run(reason, opts.now(), peer);
      return first;
    },
    score: (peer) => scoreQ.get(peer)?.score ?? 0,
  };
}
