// Mosquitto password files in mosquitto 2.0's own format (`user:$7$<iterations>$<salt>$<hash>`,
// PBKDF2-SHA512), so the hub can write per-device credentials without shelling out to mosquitto_passwd.

import { pbkdf2Sync, randomBytes, timingSafeEqual } from "node:crypto";
import { kianaError } from "../../errors.ts";
import { writeFileAtomic } from "../../platform/atomic-file.ts";

/** mosquitto_passwd 2.0 uses 101 rounds; more costs each CONNECT a little CPU on the hub, still ~1 ms on a Pi 4. */
export const DEFAULT_ITERATIONS = 1000;
/** Salt and digest sizes that mosquitto_passwd writes (12 and 64 bytes). */
const SALT_BYTES = 12;
const HASH_BYTES = 64;

/** Usernames end up on `user` lines of the ACL and before the `:` here: keep them to a safe alphabet. */
const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function checkUsername(username: string): string {
  if (typeof username !== "string" || !USERNAME.test(username)) {
    throw kianaError(
      "BROKER_CONFIG_INVALID",
      `MQTT username ${JSON.stringify(username)} is not allowed: use 1-64 letters, digits, '.', '_' or '-'`,
      { username },
    );
  }
  return username;
}

function checkPassword(username: string, password: string): void {
  if (typeof password !== "string" || password.length === 0) {
    throw kianaError("BROKER_CONFIG_INVALID", `MQTT user ${username} has an empty password`, { username });
  }
  if (password.length > 1024) {
    throw kianaError("BROKER_CONFIG_INVALID", `MQTT user ${username} has a password over 1024 characters`, {
      username,
    });
  }
}

export interface HashOptions {
  iterations?: number;
  /** Fixed salt, for reproducible tests only; 12 random bytes otherwise. */
  salt?: Uint8Array;
}

/** One line of a mosquitto password file, without the newline. */
export function passwordFileLine(username: string, password: string, opts: HashOptions = {}): string {
  checkUsername(username);
  checkPassword(username, password);
  const iterations = opts.iterations ?? DEFAULT_ITERATIONS;
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > 10_000_000) {
    throw kianaError("BROKER_CONFIG_INVALID", `PBKDF2 iterations ${iterations} out of range`, { iterations });
  }
  const salt = Buffer.from(opts.salt ?? randomBytes(SALT_BYTES));
  const hash = pbkdf2Sync(password, salt, iterations, HASH_BYTES, "sha512");
  return `${username}:$7$${iterations}$${salt.toString("base64")}$${hash.toString("base64")}`;
}

/** Whether `password` matches a `$7$` line; used by tests and by `kiana doctor` to check a device's secret. */
export function verifyPasswordLine(line: string, password: string): boolean {
  const m = /^([^:]+):\$7\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(line.trim());
  if (!m) return false;
  const [, , rounds, saltB64, hashB64] = m;
  const want = Buffer.from(hashB64 ?? "", "base64");
  const got = pbkdf2Sync(
    password,
    Buffer.from(saltB64 ?? "", "base64"),
    Number(rounds),
    want.length,
    "sha512",
  );
  return want.length > 0 && timingSafeEqual(want, got);
}

export interface BrokerUser {
  username: string;
  password: string;
}

/** A whole password file; refuses duplicate usernames, which mosquitto would silently resolve. */
export function passwordFile(users: readonly BrokerUser[], opts: HashOptions = {}): string {
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const u of users) {
    if (seen.has(u.username)) {
      throw kianaError("BROKER_CONFIG_INVALID", `MQTT user ${u.username} is listed twice`, {
        username: u.username,
      });
    }
    seen.add(u.username);
    lines.push(passwordFileLine(u.username, u.password, opts));
  }
  return lines.length ? `${lines.join("\n")}\n` : "";
}

/**
 * Writes the file through a rename, so a broker reloading on SIGHUP never reads half a file.
 * Mode 0640: the system mosquitto service reads it through its group.
 */
export function writePasswordFile(path: string, users: readonly BrokerUser[], mode = 0o640): void {
  writeFileAtomic(path, passwordFile(users), mode);
}
