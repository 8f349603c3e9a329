// Builds a small disk image the way the image builder lays one out (FAT boot, ext4 root) with the
// real tools: sfdisk on a plain file, mkfs.vfat/mkfs.ext4 at byte offsets. No mount, no root.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { writeFatFiles } from "./fat-files.ts";

function run(argv: string[], stdin?: string): void {
  const res = Bun.spawnSync(argv, {
    stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin),
    stdout: "pipe",
    stderr: "pipe",
    timeout: 30_000,
  });
  if (res.exitCode !== 0) throw new Error(`${argv.join(" ")} failed: ${res.stderr.toString()}`);
}

export const BOOT_START_SECTOR = 2048;
const BOOT_SECTORS = 16384; // 8 MiB
const ROOT_SECTORS = 8192; // 4 MiB

/**
 * A 13 MiB image: partition 1 FAT (boot, with a config.txt standing in for firmware files),
 * partition 2 ext4 (root). `label` picks the partition table: dos (MBR) or gpt.
 */
export function buildTestImage(dir: string, label: "dos" | "gpt" = "dos"): string {
  const path = join(dir, `test-${label}.img`);
  // GPT keeps a backup table in the last 33 sectors: leave room after the root.
  const total = (BOOT_START_SECTOR + BOOT_SECTORS + ROOT_SECTORS + 2048) * 512;
  writeFileSync(path, new Uint8Array(0));
  run(["truncate", "-s", String(total), path]);
  const fat = label === "dos" ? "c" : "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7";
  const linux = label === "dos" ? "83" : "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
  run(
    ["sfdisk", "--quiet", path],
    `label: ${label}\nstart=${BOOT_START_SECTOR}, size=${BOOT_SECTORS}, type=${fat}\nstart=${BOOT_START_SECTOR + BOOT_SECTORS}, size=${ROOT_SECTORS}, type=${linux}\n`,
  );
  // Block counts are in KiB for both tools; --offset is in sectors, -E offset in bytes.
  run(["mkfs.vfat", "-n", "BOOT", "--offset", String(BOOT_START_SECTOR), path, String(BOOT_SECTORS / 2)]);
  run([
    "mkfs.ext4",
    "-q",
    "-F",
    "-E",
    `offset=${(BOOT_START_SECTOR + BOOT_SECTORS) * 512}`,
    path,
    String(ROOT_SECTORS / 2),
  ]);
  writeFatFiles(path, BOOT_START_SECTOR * 512, [
    { path: "config.txt", bytes: new TextEncoder().encode("arm_64bit=1\nkernel=kernel8.img\n") },
  ]);
  return path;
}
