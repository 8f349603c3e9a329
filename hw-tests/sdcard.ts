// SD card write throughput on the data partition: sequential 1 MiB writes with fdatasync every
// 16 MiB and fsync at the end, then 4 KiB writes each followed by fdatasync (what SQLite's commits do).
import {
  closeSync,
  fdatasyncSync,
  fsyncSync,
  openSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { type CheckResult, fail, pass } from "./result.ts";

export const MIN_SEQ_MB_S = 10;
export const MIN_SYNC_IOPS = 20;

/** The mount source of the file system holding `dir`, from /proc/self/mountinfo text. */
export function mountSourceOf(dir: string, mountinfo: string): { mountPoint: string; source: string } | null {
  let best: { mountPoint: string; source: string } | null = null;
  for (const line of mountinfo.split("\n")) {
    const f = line.split(" ");
    const mp = f[4];
    const dash = f.indexOf("-");
    if (!mp || dash < 0) continue;
    const under = dir === mp || dir.startsWith(mp.endsWith("/") ? mp : `${mp}/`);
    if (under && (!best || mp.length >= best.mountPoint.length))
      best = { mountPoint: mp, source: f[dash + 2] ?? "" };
  }
  return best;
}

export function sdVerdict(seqMbS: number, syncIops: number): string[] {
  const bad: string[] = [];
  if (seqMbS < MIN_SEQ_MB_S) bad.push(`sequential ${seqMbS.toFixed(1)} MB/s < ${MIN_SEQ_MB_S}`);
  if (syncIops < MIN_SYNC_IOPS) bad.push(`synced 4 KiB writes ${syncIops.toFixed(0)}/s < ${MIN_SYNC_IOPS}`);
  return bad;
}

export function sdCheck(dir = "/var/lib/kiana", megabytes = 256): CheckResult {
  let dataDev: string;
  try {
    dataDev = realpathSync("/dev/disk/by-label/KIANA-DATA");
  } catch {
    return fail("sd-card", "no KIANA-DATA partition (/dev/disk/by-label/KIANA-DATA): not a kiana image");
  }
  const m = mountSourceOf(realpathSync(dir), readFileSync("/proc/self/mountinfo", "utf8"));
  if (!m || realpathSync(m.source) !== dataDev)
    return fail(
      "sd-card",
      `${dir} is not on the data partition ${dataDev} (mounted from ${m?.source ?? "?"})`,
    );
  const file = join(dir, ".kiana-hw-test.tmp");
  const block = new Uint8Array(1 << 20).map((_, i) => (i * 131) & 0xff);
  try {
    let fd = openSync(file, "w");
    const t0 = performance.now();
    for (let i = 0; i < megabytes; i++) {
      writeSync(fd, block);
      if (i % 16 === 15) fdatasyncSync(fd);
    }
    fsyncSync(fd);
    const seqMbS = (megabytes * 1.048576) / ((performance.now() - t0) / 1000);
    closeSync(fd);
    fd = openSync(file, "r+");
    const small = block.subarray(0, 4096);
    const n = 200;
    const t1 = performance.now();
    for (let i = 0; i < n; i++) {
      writeSync(fd, small, 0, small.length, ((i * 7919) % 4096) * 4096);
      fdatasyncSync(fd);
    }
    const syncIops = n / ((performance.now() - t1) / 1000);
    closeSync(fd);
    const bad = sdVerdict(seqMbS, syncIops);
    const numbers = { seqMbPerS: seqMbS, sync4kPerS: syncIops, device: dataDev };
    return bad.length === 0
      ? pass("sd-card", `${megabytes} MiB written and synced on ${dataDev}`, numbers)
      : fail("sd-card", `slow card: ${bad.join("; ")}`, numbers);
  } catch (err) {
    return fail("sd-card", `writing ${file} failed: ${(err as Error).message}`);
  } finally {
    rmSync(file, { force: true });
  }
}
