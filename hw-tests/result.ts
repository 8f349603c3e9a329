// One hardware check's outcome: pass or fail, a reason a person can act on, and the numbers measured.
export interface CheckResult {
  name: string;
  ok: boolean;
  /** Why it failed, or what passed, in one line. */
  detail: string;
  /** Measured values, printed as `key=value` (units in the key: `mbPerS`, `celsius`). */
  numbers: Record<string, number | string>;
}

export function pass(name: string, detail: string, numbers: CheckResult["numbers"] = {}): CheckResult {
  return { name, ok: true, detail, numbers };
}

export function fail(name: string, detail: string, numbers: CheckResult["numbers"] = {}): CheckResult {
  return { name, ok: false, detail, numbers };
}

export function formatResult(r: CheckResult): string {
  const nums = Object.entries(r.numbers)
    .map(([k, v]) => `${k}=${typeof v === "number" ? Number(v.toFixed(3)) : v}`)
    .join(" ");
  return `${r.ok ? "PASS" : "FAIL"} ${r.name.padEnd(12)} ${r.detail}${nums ? `  [${nums}]` : ""}`;
}

/** Runs a command; never throws (a missing program is a result, not a crash). */
export function run(cmd: string[], timeoutMs = 120_000): { code: number; out: string; err: string } {
  try {
    const res = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe", timeout: timeoutMs });
    return { code: res.exitCode ?? -1, out: res.stdout.toString(), err: res.stderr.toString() };
  } catch (err) {
    return { code: 127, out: "", err: (err as Error).message };
  }
}
