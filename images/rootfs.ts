// The cached rootfs stage: the mmdebstrap command line for a board and the cache key that decides
// whether a previous tarball can be reused (same package list, same hooks, same command line).
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";

export type Board = "rpi" | "generic-arm64";
export const BOARDS: readonly Board[] = ["rpi", "generic-arm64"];

export const SUITE = "bookworm";
export const MIRROR = "http://deb.debian.org/debian";
export const SECURITY_MIRROR = "http://deb.debian.org/debian-security";

const HERE = join(import.meta.dir, "rootfs");
/** Files whose contents define the rootfs: a change to any of them is a cache miss. */
export const RECIPE_FILES = ["packages-common.txt", "setup.sh", "customize.sh"] as const;

/** Reads a package list: one name a line, `#` comments and blank lines ignored. */
export function parsePackageList(text: string): string[] {
  return text
    .split("\n")
    .map((line) => line.replace(/#.*/, "").trim())
    .filter((line) => line.length > 0);
}

export function packagesFor(board: Board, readFile: (name: string) => string = readRecipe): string[] {
  return [
    ...parsePackageList(readFile("packages-common.txt")),
    ...parsePackageList(readFile(`packages-${board}.txt`)),
  ];
}

function readRecipe(name: string): string {
  return readFileSync(join(HERE, name), "utf8");
}

export interface MmdebstrapOptions {
  board: Board;
  packages: readonly string[];
  output: string;
  mode: "root" | "unshare";
  /** Folder with the hook scripts (images/rootfs). */
  hookDir?: string;
}

/** The mmdebstrap command line; pure, so the cache key can hash it. */
export function mmdebstrapArgs(o: MmdebstrapOptions): string[] {
  const hooks = o.hookDir ?? HERE;
  const components = "main non-free-firmware";
  return [
    "mmdebstrap",
    `--mode=${o.mode}`,
    "--architectures=arm64",
    "--variant=apt",
    "--format=tar",
    `--components=${components}`,
    // dpkg's fsync calls are most of the unpack time under emulation; the image is written once.
    "--hook-dir=/usr/share/mmdebstrap/hooks/eatmydata",
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
    "--dpkgopt=path-include=/usr/share/locale/locale.alias",
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-include=/usr/share/doc/*/copyright",
    "--dpkgopt=path-exclude=/usr/share/info/*",
    `--include=${o.packages.join(",")}`,
    `--setup-hook=${join(hooks, "setup.sh")}`,
    `--customize-hook=${join(hooks, "customize.sh")}`,
    SUITE,
    o.output,
    `deb ${MIRROR} ${SUITE} ${components}`,
    `deb ${MIRROR} ${SUITE}-updates ${components}`,
    `deb ${SECURITY_MIRROR} ${SUITE}-security ${components}`,
  ];
}

/** Cache key: sha256 over the board, its package list, the hook scripts and the command shape. */
export function rootfsKey(board: Board, readFile: (name: string) => string = readRecipe): string {
  const h = createHash("sha256");
  h.update(`kiana-rootfs-v1\0${board}\0`);
  for (const name of [...RECIPE_FILES, `packages-${board}.txt`]) h.update(`${name}\0${readFile(name)}\0`);
  const args = mmdebstrapArgs({
    board,
    packages: packagesFor(board, readFile),
    output: "OUT",
    mode: "root",
    hookDir: "HOOKS",
  });
  h.update(args.join("\0"));
  return h.digest("hex").slice(0, 16);
}
