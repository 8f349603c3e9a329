// Replacing a file so that a reader (mosquitto on SIGHUP, `kiana status`) or a power cut sees
// either the old file or the whole new one: write a temporary file, fsync it, rename it over.
import { closeSync, fchmodSync, fsyncSync, openSync, renameSync, writeSync } from "node:fs";

export function writeFileAtomic(path: string, contents: string, mode = 0o644): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w", mode);
  try {
    // The umask may have narrowed the mode at creation; set it exactly (0640 for mosquitto's group).
    fchmodSync(fd, mode);
    writeSync(fd, contents);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}
