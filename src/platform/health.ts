// The health registry: ongoing problems with stable codes, shown by `kiana doctor`, /healthz and
// the admin page. A problem is set while it lasts and cleared when it is over.

export type HealthSeverity = "warning" | "error";

export interface HealthEntry {
  /** Stable code, e.g. STORE_CORRUPT or ENGINE_MISSING:onnxruntime. */
  code: string;
  severity: HealthSeverity;
  /** What is wrong, for a person. */
  message: string;
  /** What to do about it, when we know. */
  hint?: string;
  since: number;
}

export interface HealthRegistry {
  set(entry: Omit<HealthEntry, "since">): void;
  clear(code: string): void;
  list(): HealthEntry[];
  /** True when no entry has severity "error": warnings keep /healthz green. */
  ok(): boolean;
}

export function createHealthRegistry(opts: { now?: () => number } = {}): HealthRegistry {
  const now = opts.now ?? Date.now;
  const entries = new Map<string, HealthEntry>();
  return {
    set(entry) {
      const prev = entries.get(entry.code);
      const since = prev && prev.message === entry.message ? prev.since : now();
      entries.set(entry.code, { ...entry, since });
    },
    clear(code) {
      entries.delete(code);
    },
    list() {
      return [...entries.values()].sort((a, b) => a.code.localeCompare(b.code));
    },
    ok() {
      for (const e of entries.values()) if (e.severity === "error") return false;
      return true;
    },
  };
}
