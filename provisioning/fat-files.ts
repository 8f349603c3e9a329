// Reads and writes files on the FAT boot partition of an image or card through mtools at a byte
// offset (`-i file@@OFFSET`): no mount, no loop device, no root needed for an image file.
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, normalize } from "node:path";
import { provisionError } from "./errors.ts";

export interface FatFile {
  /** Path on the FAT partition, e.g. `kiana/seed.toml` (leading slash optional). */
  path: string;
  bytes: Uint8Array;
}

// MTOOLS_SKIP_CHECK: images made by mkfs tools can have geometry mtools would otherwise refuse.
const ENV = { ...process.env, MTOOLS_SKIP_CHECK: "1" };

function mtools(tool: string, args: string[]): Uint8Array {
  let res: ReturnType<typeof Bun.spawnSync>;
  try {
    res = Bun.spawnSync([tool, ...args], { env: ENV, stdout: "pipe", stderr: "pipe", timeout: 120_000 });
  } catch (err) {
    throw provisionError(
      "PROVISION_TOOL_FAILED",
      `${tool} is missing: install the Debian package mtools (apt-get install mtools)`,
      err,
    );
  }
  if (res.exitCode !== 0)
    throw provisionError(
      "PROVISION_TOOL_FAILED",
      `${tool} ${args.join(" ")} failed (exit ${res.exitCode}): ${res.stderr?.toString().trim()}`,
    );
  return new Uint8Array(res.stdout as Buffer);
}

const drive = (target: string, offset: number) => `${target}@@${offset}`;

/** A relative path that stays inside the partition; throws on `..` or empty names. */
function cleanPath(path: string): string {
  const p = normalize(path.replace(/^\/+/, ""));
  if (!p || p === "." || p.startsWith("..") || p.includes("\\"))
    throw provisionError("PROVISION_IMAGE_INVALID", `seed file path '${path}' leaves the boot partition`);
  return p;
}

/**
 * Copies `files` onto the FAT partition at `offset` of `target`, replacing files of the same name
 * and creating folders. The files pass through a private temporary folder (mode 0700, removed
 * after), since mcopy reads from files and the seed holds the device's private keys.
 */
export function writeFatFiles(target: string, offset: number, files: readonly FatFile[]): void {
  if (files.length === 0) return;
  const stage = mkdtempSync(join(tmpdir(), "kiana-seed-"));
  chmodSync(stage, 0o700);
  try {
    for (const f of files) {
      const path = join(stage, cleanPath(f.path));
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      writeFileSync(path, f.bytes, { mode: 0o600 });
    }
    // -s recurses into folders (an existing folder is reused), -o overwrites without asking.
    const top = readdirSync(stage).map((name) => join(stage, name));
    mtools("mcopy", ["-s", "-o", "-i", drive(target, offset), ...top, "::/"]);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/** The bytes of one file on the partition. */
export function readFatFile(target: string, offset: number, path: string): Uint8Array {
  return mtools("mcopy", ["-i", drive(target, offset), `::/${cleanPath(path)}`, "-"]);
}

/** Every file (not folder) on the partition, as relative paths. */
export function listFatFiles(target: string, offset: number): string[] {
  const text = new TextDecoder().decode(mtools("mdir", ["-b", "-/", "-i", drive(target, offset), "::/"]));
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.startsWith("::/") && !l.endsWith("/"))
    .map((l) => l.slice(3))
    .sort();
}
