import { expect, test } from "bun:test";
import type { FileReader } from "./hardware-profile.ts";
import { loadBetween, parseProcStat, readSystemStats, statsFromFiles } from "./system-stats.ts";

test("CPU load is the busy share between two /proc/stat samples", () => {
  const a = parseProcStat("cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 2 3 4\n");
  const b = parseProcStat("cpu  250 0 150 900 0 0 0 0 0 0\n");
  expect(a).toEqual({ busy: 200, total: 1000 });
  if (!a || !b) throw new Error("unparsed");
  expect(loadBetween(a, b)).toBe(66.66666666666666);
  expect(loadBetween(a, a)).toBeNull();
  expect(parseProcStat("")).toBeNull();
});

test("the /proc fallback reports load, used memory, hottest zone and uptime", async () => {
  const stats = ["cpu  100 0 100 800 0 0 0 0\n", "cpu  175 0 125 900 0 0 0 0\n"];
  const files: Record<string, string> = {
    "/proc/meminfo": "MemTotal:        8245888 kB\nMemFree:  100 kB\nMemAvailable:    6402112 kB\n",
    "/proc/uptime": "3600.52 7000.10\n",
    "/sys/class/thermal/thermal_zone0/type": "cpu-thermal\n",
    "/sys/class/thermal/thermal_zone0/temp": "61250\n",
  };
  const read: FileReader = {
    readText: (path) => (path === "/proc/stat" ? (stats.shift() ?? null) : (files[path] ?? null)),
    list: (dir) => (dir === "/sys/class/thermal" ? ["thermal_zone0"] : []),
  };
  const slept: number[] = [];
  const s = await statsFromFiles(read, { sampleMs: 50, sleep: async (ms) => void slept.push(ms) });
  expect(slept).toEqual([50]);
  expect(s).toEqual({
    cpuLoadPercent: 50,
    memory: { totalBytes: 8245888 * 1024, usedBytes: (8245888 - 6402112) * 1024 },
    temperatureCelsius: 61.25,
    uptimeSeconds: 3600.52,
  });
});

test("an empty tree gives nulls and zeros, not an exception", async () => {
  const s = await readSystemStats({ root: "/nonexistent/kiana-root" });
  expect(s).toEqual({
    cpuLoadPercent: null,
    memory: { totalBytes: 0, usedBytes: 0 },
    temperatureCelsius: null,
    uptimeSeconds: 0,
  });
});

test("the real machine reports memory in use and a running uptime", async () => {
  const s = await readSystemStats({ sampleMs: 50 });
  expect(s.memory.totalBytes).toBeGreaterThan(0);
  expect(s.memory.usedBytes).toBeGreaterThan(0);
  expect(s.memory.usedBytes).toBeLessThanOrEqual(s.memory.totalBytes);
  expect(s.uptimeSeconds).toBeGreaterThan(0);
  if (s.cpuLoadPercent !== null) expect(s.cpuLoadPercent).toBeLessThanOrEqual(100);
});
