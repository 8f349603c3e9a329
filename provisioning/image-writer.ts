// Puts an OS image onto a card (a block device, or a regular file standing in for one in tests) or
// into a copy, with progress. Refuses a device that is mounted, a partition, or too small.
import {
  closeSync,
  fsyncSync,
  openSync,
  readFileSync,
  readSync,
  realpathSync,
  statSync,
  writeSync,
} from "node:fs";
import { basename } from "node:path";
import { provisionError } from "./errors.ts";

const CHUNK = 4 * 1024 * 1024;

export type Progress = (written: number, total: number) => void;

/** What the host says about a block device; read from /proc and /sys, passed in for tests. */
export interface BlockDeviceFacts {
  mounts(): string;
  /** Contents of /sys/class/block/<name>/<file>, or undefined when absent. */
  sys(name: string, file: string): string | undefined;
}

export const hostBlockFacts: BlockDeviceFacts = {
  mounts: () => readFileSync("/proc/mounts", "utf8"),
  sys: (name, file) => {
    try {
      return readFileSync(`/sys/class/block/${name}/${file}`, "utf8").trim();
    } catch {
      return undefined;
    }
  },
};

/**
 * Checks that `device` may be overwritten with `imageBytes` bytes. A regular file is accepted as a
 * stand-in (tests, or writing a raw image for another tool); anything else must be a whole disk.
 */
export function checkTarget(
  device: string,
  imageBytes: number,
  facts: BlockDeviceFacts = hostBlockFacts,
): void {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(device);
  } catch (err) {
    throw provisionError(
      "PROVISION_DEVICE_REFUSED",
      `${device} does not exist: ${(err as Error).message}`,
      err,
    );
  }
  if (st.isFile()) return;
  if (!st.isBlockDevice())
    throw provisionError(
      "PROVISION_DEVICE_REFUSED",
      `${device} is neither a block device nor a regular file`,
    );
  const real = realpathSync(device);
  const name = basename(real);
  if (facts.sys(name, "partition") !== undefined)
    throw provisionError(
      "PROVISION_DEVICE_REFUSED",
      `${device} is a partition; give the whole card (e.g. /dev/sdb, not /dev/sdb1)`,
    );
  // Any mounted partition of the card means someone is using it (or it is this machine's disk).
  const mounted = facts
    .mounts()
    .split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter((src) => src === real || (src.startsWith(real) && /^p?\d+$/.test(src.slice(real.length))));
  if (mounted.length > 0)
    throw provisionError(
      "PROVISION_DEVICE_REFUSED",
      `${device} is mounted (${mounted.join(", ")}); unmount it first (it must not be this machine's disk)`,
    );
  const sectors = Number(facts.sys(name, "size") ?? "0");
  if (sectors > 0 && sectors * 512 < imageBytes)
    throw provisionError(
      "PROVISION_DEVICE_REFUSED",
      `${device} holds ${(sectors * 512) / 2 ** 30} GiB, less than the image's ${imageBytes / 2 ** 30} GiB`,
    );
}

/** Copies `image` onto `target` in 4 MiB chunks, reporting progress, and syncs before returning. */
export function writeImage(image: string, target: string, onProgress: Progress = () => {}): void {
  const total = statSync(image).size;
  const input = openSync(image, "r");
  let output: number | undefined;
  try {
    // "r+" rather than "w": a block device cannot be truncated; a stand-in file keeps its size or grows.
    output = openSync(target, statSync(target, { throwIfNoEntry: false }) ? "r+" : "w");
    const buf = new Uint8Array(CHUNK);
    let done = 0;
    onProgress(0, total);
    while (done < total) {
      const n = readSync(input, buf, 0, CHUNK, done);
      if (n === 0) break;
      let off = 0;
      while (off < n) off += writeSync(output, buf, off, n - off, done + off);
      done += n;
      onProgress(done, total);
    }
    // The card may be pulled right after we finish: nothing may still sit in the page cache.
    fsyncSync(output);
  } catch (err) {
    throw provisionError(
      "PROVISION_DEVICE_REFUSED",
      `writing ${image} to ${target} failed: ${(err as Error).message}`,
      err,
    );
  } finally {
    closeSync(input);
    if (output !== undefined) closeSync(output);
  }
}
