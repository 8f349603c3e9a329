// The admin account and its login sessions, kept in SQLite. Passwords are stored as argon2id
// hashes (Bun.password); session tokens only as sha256 so a copied database grants no login.
import { createHash, randomBytes } from "node:crypto";
import type { Store } from "../store/index.ts";

export const ADMIN_USER = "admin";
export const MIN_PASSWORD_LENGTH = 10;

export interface Session {
  username: string;
  csrfToken: string;
  expiresAt: number;
}

export interface Accounts {
  isSetUp(): boolean;
  setPassword(password: string): Promise<void>;
  /** Stores an argon2id hash made elsewhere (the first-boot seed), so the password never travels. */
  setPasswordHash(hash: string): void;
  checkPassword(password: string): Promise<boolean>;
  createSession(): { token: string; session: Session };
  getSession(token: string | undefined): Session | null;
  deleteSession(token: string | undefined): void;
}

const tokenHash = (token: string) => createHash("sha256").update(token).digest("hex");

export function createAccounts(opts: { store: Store; sessionMs: number; now?: () => number }): Accounts {
  const { store, sessionMs } = opts;
  const now = opts.now ?? Date.now;
  const db = store.db;
  const setPasswordHash = (hash: string): void => {
    const t = now();
    store.transaction(
      (d) => {
        d.query(
          `INSERT INTO admin_user (username, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?)
           ON CONFLICT(username) DO UPDATE SET password_hash = excluded.password_hash, updated_at = excluded.updated_at`,
        ).run(ADMIN_USER, hash, t, t);
        // A new password ends every existing login.
        d.query("DELETE FROM admin_session WHERE username = ?").run(ADMIN_USER);
      },
      { durable: true },
    );
  };
  return {
    isSetUp() {
      return db.query("SELECT 1 FROM admin_user WHERE username = ?").get(ADMIN_USER) !== null;
    },
    async setPassword(password) {
      setPasswordHash(await Bun.password.hash(password, { algorithm: "argon2id" }));
    },
    setPasswordHash,
    async checkPassword(password) {
      const row = db
        .query<{ password_hash: string }, [string]>("SELECT password_hash FROM admin_user WHERE username = ?")
        .get(ADMIN_USER);
      if (!row) return false;
      try {
        return await Bun.password.verify(password, row.password_hash);
      } catch {
        return false;
      }
    },
    createSession() {
      const token = randomBytes(32).toString("base64url");
      const session = {
        username: ADMIN_USER,
        csrfToken: randomBytes(24).toString("base64url"),
        expiresAt: now() + sessionMs,
      };
      store.transaction((d) => {
        d.query("DELETE FROM admin_session WHERE expires_at <= ?").run(now());
        d.query(
          "INSERT INTO admin_session (token_hash, username, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
        ).run(tokenHash(token), session.username, session.csrfToken, now(), session.expiresAt);
      });
      return { token, session };
    },
    getSession(token) {
      if (!token) return null;
      const row = db
        .query<{ username: string; csrf_token: string; expires_at: number }, [string]>(
          "SELECT username, csrf_token, expires_at FROM admin_session WHERE token_hash = ?",
        )
        .get(tokenHash(token));
      if (!row || row.expires_at <= now()) return null;
      return { username: row.username, csrfToken: row.csrf_token, expiresAt: row.expires_at };
    },
    deleteSession(token) {
      if (token) db.query("DELETE FROM admin_session WHERE token_hash = ?").run(tokenHash(token));
    },
  };
}
