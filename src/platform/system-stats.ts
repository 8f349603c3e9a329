// Live system numbers (CPU load, memory in use, temperature, uptime) for `kiana status` and /metrics.
// systeminformation answers first; /proc is the fallback so a compiled binary without it still reports.
import { createFsReader, type FileReader, readThermal } from "./hardware-profile.ts";

export interface SystemStats {
  /** Busy share of all CPUs over the sample window, 0–100. */
  cpuLoadPercent: number | null;
  /** Used means not available to new programs: page cache that can be dropped counts as free. */
  memory: { totalBytes: number; usedBytes: number };
  temperatureCelsius: number | null;
  uptimeSeconds: number;
}

export interface SystemStatsOptions {
  /** Filesystem root for the /proc and /sys fallbacks; fixture trees in tests. */
  root?: string;
  /** On by default only for the real root "/". */
  useSysteminformation?: boolean;
  /** How long the /proc/stat fallback waits between its two samples. */
  sampleMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

/** Busy and total jiffies from the aggregate "cpu" line of /proc/stat. */
export function parseProcStat(text: string | null): { busy: number; total: number } | null {
  const line = text?.split("\n").find((l) => l.startsWith("cpu "));
  if (!line) return null;
  const n = line.trim().split(/\s+/).slice(1).map(Number);
  // Guest time is already inside user and nice, so only the first eight columns add up.
  const total = n.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (n[3] ?? 0) + (n[4] ?? 0);
  return Number.isFinite(total) ? { busy: total - idle, total } : null;
}

/** Load percent between two /proc/stat samples, or null when no time passed. */
export function loadBetween(
  a: { busy: number; total: number },
  b: { busy: number; total: number },
): number | null {
  const dt = b.total - a.total;
  if (dt <= 0) return null;
  return Math.min(100, Math.max(0, ((b.busy - a.busy) / dt) * 100));
}

function memoryFromFiles(read: FileReader): SystemStats["memory"] {
  const info = read.readText("/proc/meminfo") ?? "";
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s*(\\d+)`, "m").exec(info)?.[1] ?? 0) * 1024;
  const total = kib("MemTotal");
  return { totalBytes: total, usedBytes: Math.max(0, total - kib("MemAvailable")) };
}

/** The /proc fallback; takes a reader so tests can change /proc/stat between the two samples. */
export async function statsFromFiles(read: FileReader, opts: SystemStatsOptions = {}): Promise<SystemStats> {
  const first = parseProcStat(read.readText("/proc/stat"));
  let cpuLoadPercent: number | null = null;
  if (first) {
    await sleeper(opts)(opts.sampleMs ?? 200);
    const second = parseProcStat(read.readText("/proc/stat"));
    cpuLoadPercent = second ? loadBetween(first, second) : null;
  }
  const uptime = Number.parseFloat(read.readText("/proc/uptime") ?? "");
  return {
    cpuLoadPercent,
    memory: memoryFromFiles(read),
    temperatureCelsius: readThermal(read).maxCelsius,
    uptimeSeconds: Number.isNaN(uptime) ? 0 : uptime,
  };
}

function sleeper(opts: SystemStatsOptions): (ms: number) => Promise<void> {
  return opts.sleep ?? ((ms) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
}

/** Samples current system numbers; never throws. */
export async function readSystemStats(opts: SystemStatsOptions = {}): Promise<SystemStats> {
  const root = opts.root ?? "/";
  const read = createFsReader(root);
  if (!(opts.useSysteminformation ?? root === "/")) return statsFromFiles(read, opts);
  try {
    // Lazy: the runtime must start even where systeminformation cannot load.
    const si = await import("systeminformation");
    // The first currentLoad() call averages since boot; the second covers just the sample window.
    await si.currentLoad();
    await sleeper(opts)(opts.sampleMs ?? 200);
    const [load, mem, temp] = await Promise.all([si.currentLoad(), si.mem(), si.cpuTemperature()]);
    // systeminformation reports -1 or null where it finds no sensor; the thermal zones may still know.
    const siTemp = typeof temp.main === "number" && temp.main > 0 ? temp.main : null;
    const uptime = si.time().uptime;
    return {
      cpuLoadPercent: Number.isFinite(load.currentLoad) ? load.currentLoad : null,
      memory:
        mem.total > 0
          ? { totalBytes: mem.total, usedBytes: mem.total - mem.available }
          : memoryFromFiles(read),
      temperatureCelsius: siTemp ?? readThermal(read).maxCelsius,
      uptimeSeconds: Number.isFinite(uptime) ? uptime : 0,
    };
  } catch {
    return statsFromFiles(read, opts);
  }
}
