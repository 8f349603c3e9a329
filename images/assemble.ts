// Turns a rootfs folder into a partitioned disk image without loop devices or mounts: sfdisk writes
// the table into a sparse file, mkfs.ext4 -d fills each ext4 partition at its byte offset, the FAT
// is made in a side file with mkfs.vfat + mcopy and copied in with dd.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Layout, MiB, type Partition, sfdiskScript } from "./plan.ts";

export class ImageError extends Error {}

/** Runs a command, returning stdout; a failure throws with the command and the end of its output. */
export function sh(cmd: string[], opts: { stdin?: string; cwd?: string } = {}): string {
  const res = Bun.spawnSync(cmd, {
    cwd: opts.cwd,
    stdin: opts.stdin === undefined ? "ignore" : new TextEncoder().encode(opts.stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  if (res.exitCode !== 0) {
    const out = `${res.stdout.toString()}${res.stderr.toString()}`.trim().split("\n").slice(-20).join("\n");
    throw new ImageError(`command failed (exit ${res.exitCode}): ${cmd.join(" ")}\n${out}`);
  }
  return res.stdout.toString();
}

export interface AssembleInput {
  image: string;
  layout: Layout;
  /** Folder that becomes the root file system (rootA). */
  rootDir: string;
  /** Folder copied onto the FAT boot partition. */
  bootDir: string;
  /** Folder that becomes the data partition (usually empty). */
  dataDir: string;
}

function bytes(p: Partition): { offset: number; size: number } {
  return { offset: p.startMiB * MiB, size: p.sizeMiB * MiB };
}

function mkExt4(image: string, p: Partition, dir: string, reservedPercent: number): void {
  const { offset, size } = bytes(p);
  sh([
    "mkfs.ext4",
    "-q",
    "-F",
    "-L",
    p.label,
    "-m",
    String(reservedPercent),
    "-E",
    `offset=${offset}`,
    "-d",
    dir,
    image,
    `${size / 1024}k`,
  ]);
}

function mkFat(image: string, p: Partition, dir: string): void {
  const { offset, size } = bytes(p);
  const tmp = mkdtempSync(join(tmpdir(), "kiana-fat-"));
  const fat = join(tmp, "boot.fat");
  try {
    sh(["truncate", "-s", String(size), fat]);
    sh(["mkfs.vfat", "-F", "32", "-n", p.label, fat]);
    const entries = readdirSync(dir).map((name) => join(dir, name));
    if (entries.length > 0) sh(["mcopy", "-s", "-p", "-m", "-i", fat, ...entries, "::/"]);
    sh([
      "dd",
      `if=${fat}`,
      `of=${image}`,
      "bs=1M",
      `seek=${offset / MiB}`,
      "conv=notrunc,sparse",
      "status=none",
    ]);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Writes the whole image. Unformatted partitions (the empty root B slot) stay zeros (sparse). */
export function assembleImage(input: AssembleInput): void {
  const { image, layout } = input;
  rmSync(image, { force: true });
  writeFileSync(image, "");
  sh(["truncate", "-s", String(layout.totalMiB * MiB), image]);
  sh(["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", image], { stdin: sfdiskScript(layout) });
  for (const p of layout.partitions) {
    if (p.format === "vfat") mkFat(image, p, input.bootDir);
    else if (p.format === "ext4" && p.name === "rootA") mkExt4(image, p, input.rootDir, 5);
    else if (p.format === "ext4") mkExt4(image, p, input.dataDir, 0);
  }
}

/** sfdisk's JSON view of an image's partition table (what the tests and the boot test read). */
export interface SfdiskTable {
  partitiontable: {
    label: string;
    sectorsize?: number;
    partitions: { node: string; start: number; size: number; type: string; bootable?: boolean }[];
  };
}

export function readTable(image: string): SfdiskTable {
  return JSON.parse(sh(["sfdisk", "--json", image])) as SfdiskTable;
}
