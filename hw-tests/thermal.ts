// Thermal throttling under load: every core busy for a while, the SoC temperature sampled, and the
// firmware's throttle flags (vcgencmd get_throttled on Raspberry Pi OS) or, on Debian's kernel, the
// CPU clock against its maximum.
import { readdirSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { type CheckResult, fail, pass, run } from "./result.ts";

export const MAX_CELSIUS = 80;

/** The bits of `vcgencmd get_throttled` (throttled=0x50005) that matter here. */
export function parseThrottled(text: string): { now: boolean; sinceBoot: boolean; raw: number } | null {
  const m = /throttled=(0x[0-9a-f]+)/i.exec(text);
  if (!m) return null;
  const raw = Number.parseInt(m[1] as string, 16);
  // 0: under-voltage now, 1: arm frequency capped now, 2: throttled now, 3: soft temperature limit now;
  // bits 16-19: the same, since boot.
  return { now: (raw & 0xf) !== 0, sinceBoot: (raw & 0xf0000) !== 0, raw };
}

export interface ThermalSample {
  celsius: number | null;
  /** Current over maximum CPU clock, 0..1, or null when cpufreq is absent. */
  clockRatio: number | null;
}

export function thermalVerdict(
  samples: ThermalSample[],
  throttled: ReturnType<typeof parseThrottled>,
): string[] {
  const bad: string[] = [];
  const temps = samples.flatMap((s) => (s.celsius === null ? [] : [s.celsius]));
  const max = temps.length ? Math.max(...temps) : null;
  if (max !== null && max >= MAX_CELSIUS) bad.push(`reached ${max.toFixed(1)} °C (limit ${MAX_CELSIUS})`);
  if (throttled?.now || throttled?.sinceBoot)
    bad.push(`firmware reports throttling (get_throttled=0x${throttled.raw.toString(16)})`);
  const clocks = samples.flatMap((s) => (s.clockRatio === null ? [] : [s.clockRatio]));
  // Only the second half counts: the governor needs a moment to ramp up.
  const late = clocks.slice(Math.floor(clocks.length / 2));
  if (!throttled && late.length > 0 && Math.min(...late) < 0.9)
    bad.push(`CPU clock fell to ${(Math.min(...late) * 100).toFixed(0)}% of its maximum under load`);
  return bad;
}

function readNum(path: string): number | null {
  try {
    const n = Number(readFileSync(path, "utf8").trim());
    return Number.isFinite(n) ? n : null;
  } catch {
    return null;
  }
}

export function sample(): ThermalSample {
  let zones: string[] = [];
  try {
    zones = readdirSync("/sys/class/thermal").filter((z) => z.startsWith("thermal_zone"));
  } catch {}
  const temps = zones.flatMap((z) => {
    const t = readNum(`/sys/class/thermal/${z}/temp`);
    return t === null ? [] : [t / 1000];
  });
  const cur = readNum("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq");
  const max = readNum("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq");
  return {
    celsius: temps.length ? Math.max(...temps) : null,
    clockRatio: cur !== null && max ? cur / max : null,
  };
}

export async function thermalCheck(seconds = 60, probe: () => ThermalSample = sample): Promise<CheckResult> {
  const before = probe();
  if (before.celsius === null)
    return fail("thermal", "no thermal sensor (/sys/class/thermal has no readable zone)");
  const cores = availableParallelism();
  const burners = Array.from({ length: cores }, () =>
    Bun.spawn(["sh", "-c", "while :; do :; done"], { stdout: "ignore", stderr: "ignore" }),
  );
  const samples: ThermalSample[] = [];
  try {
    const until = Date.now() + seconds * 1000;
    while (Date.now() < until) {
      await Bun.sleep(1000);
      samples.push(probe());
    }
  } finally {
    for (const b of burners) b.kill("SIGKILL");
  }
  const vc = run(["vcgencmd", "get_throttled"]);
  const throttled = vc.code === 0 ? parseThrottled(vc.out) : null;
  const bad = thermalVerdict(samples, throttled);
  const temps = samples.flatMap((s) => (s.celsius === null ? [] : [s.celsius]));
  const numbers = {
    cores,
    seconds,
    idleCelsius: before.celsius,
    maxCelsius: Math.max(...temps),
    throttled: throttled ? `0x${throttled.raw.toString(16)}` : "n/a",
  };
  return bad.length === 0
    ? pass("thermal", `${cores} cores busy for ${seconds} s without throttling`, numbers)
    : fail("thermal", bad.join("; "), numbers);
}
