// Startup benchmark: exec-to-first-200 on /healthz and idle RSS of the compiled `kiana run` against a
// bare compiled Bun.serve measured in the same run. Usage: scripts/bench startup [--runs 7] [--idle 10]
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { freeLoopbackPort } from "../../src/platform/free-port.test-helper.ts";
import { type BuildArch, compile } from "../build.ts";

const ROOT = join(import.meta.dir, "..", "..");
const READY_TIMEOUT_MS = 20_000;

interface Target {
  name: "kiana" | "bare";
  exe: string;
}

interface Started {
  proc: Bun.Subprocess;
  readyMs: number;
  dataDir: string | null;
}

/** Starts a target and waits, bounded, for its first 200 on /healthz. */
async function start(target: Target, existingDataDir?: string): Promise<Started> {
  const port = freeLoopbackPort();
  const dataDir =
    target.name === "kiana" ? (existingDataDir ?? mkdtempSync(join(tmpdir(), "kiana-bench-"))) : null;
  const env = { ...process.env, ...(dataDir ? { KIANA_DATA: dataDir, KIANA_MESH_ENABLED: "false" } : {}) };
  const t0 = performance.now();
  const proc = Bun.spawn([target.exe, "run", "--port", String(port)], {
    env,
    stdout: "ignore",
    stderr: "ignore",
  });
  const url = `http://127.0.0.1:${port}/healthz`;
  while (performance.now() - t0 < READY_TIMEOUT_MS && proc.exitCode === null) {
    const ok = await fetch(url).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return { proc, readyMs: performance.now() - t0, dataDir };
    await Bun.sleep(2);
  }
  await stop({ proc, readyMs: 0, dataDir });
  throw new Error(
    `${target.name} gave no 200 on /healthz within ${READY_TIMEOUT_MS} ms (exit ${proc.exitCode})`,
  );
}

async function stop(s: Started, keepData = false): Promise<void> {
  s.proc.kill("SIGTERM");
  const exited = await Promise.race([s.proc.exited.then(() => true), Bun.sleep(5000).then(() => false)]);
  if (!exited) {
    s.proc.kill("SIGKILL");
    await s.proc.exited;
  }
  if (s.dataDir && !keepData) rmSync(s.dataDir, { recursive: true, force: true });
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kb) / 1024;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? Number.NaN) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Bun.argv.slice(2),
    options: {
      runs: { type: "string", default: "7" },
      idle: { type: "string", default: "10" },
      "rss-runs": { type: "string", default: "3" },
    },
  });
  const runs = Math.min(Math.max(Number(values.runs), 1), 50);
  const rssRuns = Math.min(Math.max(Number(values["rss-runs"]), 1), 10);
  const idleS = Math.min(Math.max(Number(values.idle), 0), 120);
  const arch: BuildArch = process.arch === "arm64" ? "arm64" : "x64";
  const kiana = join(ROOT, "dist", `kiana-linux-${arch}`, "kiana");
  if (!existsSync(kiana)) throw new Error(`${kiana} is missing: run scripts/build --arch ${arch} first`);

  const benchDir = join(ROOT, ".cache", "bench");
  mkdirSync(benchDir, { recursive: true });
  const bare = join(benchDir, "bare-server");
  console.log("compiling the bare server with the release flags ...");
  compile(join(import.meta.dir, "bare-server.ts"), bare, arch);
  const targets: Target[] = [
    { name: "kiana", exe: kiana },
    { name: "bare", exe: bare },
  ];

  const ready: Record<Target["name"], number[]> = { kiana: [], bare: [] };
  for (let i = 0; i < runs; i++) {
    // Alternate which goes first so page-cache warmth and drift hit both alike.
    for (const t of i % 2 ? [...targets].reverse() : targets) {
      const s = await start(t);
      ready[t.name].push(s.readyMs);
      await stop(s);
    }
    console.log(
      `startup run ${i + 1}/${runs}: kiana ${ready.kiana.at(-1)?.toFixed(1)} ms, bare ${ready.bare.at(-1)?.toFixed(1)} ms`,
    );
  }

  // A device boots many times and does its first boot once: also time starts on a data dir
  // that already has its database and keys.
  const restart: Record<Target["name"], number[]> = { kiana: [], bare: [] };
  const warmDir = mkdtempSync(join(tmpdir(), "kiana-bench-warm-"));
  await stop(await start(targets[0] as Target, warmDir), true);
  for (let i = 0; i < runs; i++) {
    for (const t of i % 2 ? [...targets].reverse() : targets) {
      const s = await start(t, warmDir);
      restart[t.name].push(s.readyMs);
      await stop(s, true);
    }
    console.log(
      `restart run ${i + 1}/${runs}: kiana ${restart.kiana.at(-1)?.toFixed(1)} ms, bare ${restart.bare.at(-1)?.toFixed(1)} ms`,
    );
  }
  rmSync(warmDir, { recursive: true, force: true });

  const rss: Record<Target["name"], number[]> = { kiana: [], bare: [] };
  for (let i = 0; i < rssRuns; i++) {
    for (const t of i % 2 ? [...targets].reverse() : targets) {
      const s = await start(t);
      await Bun.sleep(idleS * 1000);
      rss[t.name].push(rssMb(s.proc.pid));
      await stop(s);
    }
    console.log(
      `idle RSS run ${i + 1}/${rssRuns}: kiana ${rss.kiana.at(-1)?.toFixed(1)} MB, bare ${rss.bare.at(-1)?.toFixed(1)} MB`,
    );
  }

  const startK = median(ready.kiana);
  const startB = median(ready.bare);
  const restartK = median(restart.kiana);
  const restartB = median(restart.bare);
  const rssK = median(rss.kiana);
  const rssB = median(rss.bare);
  const rows = [
    ["metric", "kiana", "bare", "kiana vs bare", "goal", "met"],
    [
      "startup to /healthz 200, first boot (median ms)",
      startK.toFixed(1),
      startB.toFixed(1),
      `${(startK / startB).toFixed(2)}x`,
      "<= 1.50x",
      startK <= 1.5 * startB ? "yes" : "NO",
    ],
    [
      "startup, existing data dir (median ms)",
      restartK.toFixed(1),
      restartB.toFixed(1),
      `${(restartK / restartB).toFixed(2)}x`,
      "<= 1.50x",
      restartK <= 1.5 * restartB ? "yes" : "NO",
    ],
    [
      `idle RSS after ${idleS} s (median MB)`,
      rssK.toFixed(1),
      rssB.toFixed(1),
      `+${(rssK - rssB).toFixed(1)} MB (${(rssK / rssB).toFixed(2)}x)`,
      "<= +25 MB",
      rssK <= rssB + 25 ? "yes" : "NO",
    ],
  ];
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length))) ?? [];
  console.log(
    `\nstartup benchmark, linux-${arch}, bun ${Bun.version}, ${runs} startup runs, ${rssRuns} RSS runs`,
  );
  for (const r of rows) console.log(r.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join("  "));
}

main().catch((err: unknown) => {
  console.error(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
