// The one-time setup code that proves the person setting the admin password can see this
// device's console or data dir. Kept in <data>/setup-code (0600) until setup is done.
import { randomInt, timingSafeEqual } from "node:crypto";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

// No 0/O, 1/I/L: people read this off a terminal and type it in.
const ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";

export interface SetupCodeKeeper {
  /** The current code, creating one if setup is pending and none exists. */
  ensure(): string;
  peek(): string | null;
  check(candidate: string): boolean;
  consume(): void;
}

export function generateSetupCode(rand: (max: number) => number = randomInt): string {
  let s = "";
  for (let i = 0; i < 8; i++) s += ALPHABET[rand(ALPHABET.length)];
  return `${s.slice(0, 4)}-${s.slice(4)}`;
}

export function normalizeSetupCode(input: string): string {
  const clean = input.toUpperCase().replace(/[^0-9A-Z]/g, "");
  return clean.length === 8 ? `${clean.slice(0, 4)}-${clean.slice(4)}` : clean;
}

export function createSetupCodeKeeper(opts: { dataDir: string; generate?: () => string }): SetupCodeKeeper {
  const file = join(opts.dataDir, "setup-code");
  const generate = opts.generate ?? (() => generateSetupCode());
  const peek = () => (existsSync(file) ? readFileSync(file, "utf8").trim() || null : null);
  return {
    ensure() {
      const existing = peek();
      if (existing) return existing;
      const code = generate();
      writeFileSync(file, `${code}\n`, { mode: 0o600 });
      return code;
    },
    peek,
    check(candidate) {
      const code = peek();
      if (!code) return false;
      const a = Buffer.from(normalizeSetupCode(candidate));
      const b = Buffer.from(code);
      return a.length === b.length && timingSafeEqual(a, b);
    },
    consume() {
      rmSync(file, { force: true });
    },
  };
}
