// The receiver's side of a transfer on disk: bytes go to `<dest>.part` in order, hashed as they are
// written, and the file is renamed into place only when its sha256 matches the offer.
import { createHash, type Hash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { type FileHandle, open, rename, rm, writeFile } from "node:fs/promises";
import { kianaError } from "../../errors.ts";
import type { TransferOffer } from "./manifest.ts";
import type { ChunkSink } from "./ports.ts";

export interface StagingFile extends ChunkSink {
  readonly partPath: string;
  /** Verifies the sha256 and renames the part into place; on a mismatch removes the part and throws. */
  commit(): Promise<string>;
  /** Closes the part and keeps it (and its sidecar) so a later transfer resumes from it. */
  close(): Promise<void>;
}

/** sha256 of a file, read as a stream: memory stays at one read buffer whatever the size. */
export async function hashFile(path: string, limit = Number.POSITIVE_INFINITY): Promise<string> {
  const hash = createHash("sha256");
  await hashInto(hash, path, limit);
  return hash.digest("hex");
}

async function hashInto(hash: Hash, path: string, limit: number): Promise<number> {
  let seen = 0;
  const file = Bun.file(path);
  const stream = (Number.isFinite(limit) ? file.slice(0, limit) : file).stream();
  for await (const chunk of stream) {
    hash.update(chunk);
    seen += chunk.length;
  }
  return seen;
}

function sameOffer(sidecar: string, offer: TransferOffer): boolean {
  try {
    const saved = JSON.parse(readFileSync(sidecar, "utf8")) as Partial<TransferOffer>;
    return saved.id === offer.id && saved.sha256 === offer.sha256 && saved.size === offer.size;
  } catch {
    return false;
  }
}

/**
 * Opens (or resumes) the part file for `offer`. A part left by an earlier attempt at the same offer
 * is kept and re-hashed from disk; one for another offer is started over.
 */
export async function openStaging(opts: { dest: string; offer: TransferOffer }): Promise<StagingFile> {
  const { dest, offer } = opts;
  const partPath = `${dest}.part`;
  const sidecar = `${dest}.part.json`;
  const hash = createHash("sha256");
  let offset = 0;
  let fh: FileHandle;
  if (existsSync(partPath) && sameOffer(sidecar, offer) && Bun.file(partPath).size <= offer.size) {
    fh = await open(partPath, "r+");
    offset = await hashInto(hash, partPath, Bun.file(partPath).size);
  } else {
    fh = await open(partPath, "w");
    await writeFile(sidecar, JSON.stringify(offer));
  }
  let closed = false;
  const release = async () => {
    if (closed) return;
    closed = true;
    await fh.close();
  };
  const mismatch = (got: string) =>
    kianaError(
      "TRANSFER_HASH_MISMATCH",
      `transfer ${offer.id} (${offer.name}): sha256 ${got} does not match the offer's ${offer.sha256}; the partial file was removed`,
      { id: offer.id, expected: offer.sha256, got },
    );

  return {
    partPath,
    get offset() {
      return offset;
    },
    async append(bytes) {
      if (closed) throw kianaError("TRANSFER_FAILED", `transfer ${offer.id}: staging file is closed`);
      if (offset + bytes.length > offer.size)
        throw kianaError("TRANSFER_FAILED", `transfer ${offer.id}: peer sent more than ${offer.size} bytes`);
      // One write at a time: callers await each append, so the order on disk is the order of calls.
      let at = 0;
      while (at < bytes.length) {
        const { bytesWritten } = await fh.write(bytes, at, bytes.length - at, offset + at);
        at += bytesWritten;
      }
      hash.update(bytes);
      offset += bytes.length;
    },
    async commit() {
      if (offset !== offer.size)
        throw kianaError(
          "TRANSFER_FAILED",
          `transfer ${offer.id}: only ${offset} of ${offer.size} bytes arrived`,
        );
      await fh.sync();
      await release();
      const got = hash.digest("hex");
      if (got !== offer.sha256) {
        await rm(partPath, { force: true });
        await rm(sidecar, { force: true });
        throw mismatch(got);
      }
      await rename(partPath, dest);
      await rm(sidecar, { force: true });
      return dest;
    },
    close: release,
  };
}
