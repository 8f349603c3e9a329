// What the last `kiana firstboot` did, kept in <data>/firstboot.json so that `kiana run` and
// `kiana doctor` can show a failed seed as a health problem after boot (the journal scrolls away).
import { chownSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../platform/atomic-file.ts";
import type { HealthEntry } from "../platform/health.ts";

export const STATUS_FILE = "firstboot.json";

export interface FirstbootStatus {
  state: "applied" | "failed";
  /** ms since the epoch. */
  at: number;
  /** For a failure: what was wrong, and where (file and field of the seed). */
  message?: string;
  file?: string;
  field?: string;
  [key: string]: unknown;
}

/** Best effort: a record that cannot be written must not hide the error that caused it. */
export function recordFirstboot(
  dataDir: string,
  status: FirstbootStatus,
  owner?: { uid: number; gid: number },
): void {
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o750 });
    const { problems: _all, ...rest } = status;
    const path = join(dataDir, STATUS_FILE);
    writeFileAtomic(path, `${JSON.stringify(rest, null, 2)}\n`, 0o640);
    if (owner) chownSync(path, owner.uid, owner.gid);
  } catch {
    // the caller reports the original problem on stderr and in the journal
  }
}

export function readFirstbootStatus(dataDir: string): FirstbootStatus | null {
  const path = join(dataDir, STATUS_FILE);
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, "utf8")) as FirstbootStatus;
  } catch {
    return null;
  }
}

/** The health entry for a failed first boot, or null when it applied (or never ran). */
export function firstbootHealth(dataDir: string): Omit<HealthEntry, "since"> | null {
  const status = readFirstbootStatus(dataDir);
  if (status?.state !== "failed") return null;
  return {
    code: "FIRSTBOOT_FAILED",
    severity: "error",
    message: `The seed on the boot partition was not applied: ${status.message ?? "unknown error"}`,
    hint: "Fix the named file on the card's boot partition (or provision it again) and reboot; nothing was half-applied.",
  };
}
