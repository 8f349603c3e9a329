// Login rate limit with a growing delay: a few free tries, then each failure doubles the wait
// before the next attempt is even checked. Keyed by client address; success clears the key.

export interface LoginLimiterOptions {
  now?: () => number;
  /** Failures allowed before any delay. */
  freeAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Keys remembered at most; the oldest are forgotten first so memory stays bounded. */
  maxKeys?: number;
}

export interface LoginLimiter {
  /** 0 when an attempt may proceed now, else milliseconds to wait. */
  retryAfterMs(key: string): number;
  failure(key: string): void;
  success(key: string): void;
}

interface Entry {
  failures: number;
  blockedUntil: number;
}

export function createLoginLimiter(opts: LoginLimiterOptions = {}): LoginLimiter {
  const now = opts.now ?? Date.now;
  const free = opts.freeAttempts ?? 3;
  const base = opts.baseDelayMs ?? 1000;
  const max = opts.maxDelayMs ?? 15 * 60_000;
  const maxKeys = opts.maxKeys ?? 10_000;
  const entries = new Map<string, Entry>();

  return {
    retryAfterMs(key) {
      const e = entries.get(key);
      return e ? Math.max(0, e.blockedUntil - now()) : 0;
    },
    failure(key) {
      const e = entries.get(key) ?? { failures: 0, blockedUntil: 0 };
      entries.delete(key);
      e.failures += 1;
      const over = e.failures - free;
      e.blockedUntil = over > 0 ? now() + Math.min(max, base * 2 ** (over - 1)) : 0;
      entries.set(key, e);
      while (entries.size > maxKeys) {
        const oldest = entries.keys().next().value;
        if (oldest === undefined) break;
        entries.delete(oldest);
      }
    },
    success(key) {
      entries.delete(key);
    },
  };
}
