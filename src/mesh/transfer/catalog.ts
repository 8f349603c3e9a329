// The files a node shares: sharing hashes the file once (streamed) and gives it a random id; the
// path servers (HTTP, MQTT, data channel) look transfers up here and serve nothing else.
import { randomBytes } from "node:crypto";
import { statSync } from "node:fs";
import { basename } from "node:path";
import { kianaError } from "../../errors.ts";
import { DEFAULT_CHUNK_SIZE, parseOffer, type TransferOffer } from "./manifest.ts";
import type { FileCatalog, SharedFile } from "./ports.ts";
import { hashFile } from "./staging.ts";

export interface ShareOptions {
  /** The name the receiver sees; defaults to the file's base name. */
  name?: string;
  chunkSize?: number;
  /** Fingerprints allowed to fetch; absent: any enrolled peer. */
  allow?: Iterable<string>;
}

export interface SharedFiles extends FileCatalog {
  share(path: string, opts?: ShareOptions): Promise<TransferOffer>;
  unshare(id: string): void;
  readonly size: number;
}

export function createFileCatalog(): SharedFiles {
  const files = new Map<string, SharedFile>();
  return {
    get: (id) => files.get(id),
    get size() {
      return files.size;
    },
    async share(path, opts = {}) {
      let size: number;
      try {
        const st = statSync(path);
        if (!st.isFile()) throw new Error("not a regular file");
        size = st.size;
      } catch (cause) {
        throw kianaError("TRANSFER_FAILED", `cannot share ${path}: ${String(cause)}`, { path }, cause);
      }
      const offer = parseOffer({
        id: randomBytes(16).toString("hex"),
        name: opts.name ?? basename(path),
        size,
        sha256: await hashFile(path),
        chunkSize: opts.chunkSize ?? DEFAULT_CHUNK_SIZE,
      });
      files.set(offer.id, { offer, path, ...(opts.allow ? { allow: new Set(opts.allow) } : {}) });
      return offer;
    },
    unshare(id) {
      files.delete(id);
    },
  };
}
