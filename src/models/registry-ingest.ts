// Importing a model: one pass hashes a file or an upload into a part file, the header is read back
// from those very bytes, then the rename and the row happen in one durable transaction. On any
// refusal or failure the part file goes, so nothing half-imported is ever listed or left on disk.
import { closeSync, existsSync, fsyncSync, openSync, renameSync } from "node:fs";
import { open, rename, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { describeError, kianaError } from "../errors.ts";
import type { Store } from "../store/index.ts";
import type { ModelEntry } from "./registry.ts";
import type { ModelKind, Received } from "./registry-bytes.ts";
import * as bytes from "./registry-bytes.ts";

export interface ImportOptions {
  /** Default for files: the file's base name; metadata never comes from it. */
  name?: string;
  /** The sha256 (hex) the bytes must have. */
  expectSha256?: string;
  /** Every 1% of a known total, every 64 MiB of an unknown one, and once at the end. */
  onProgress?(done: number, total: number | null): void;
}
export interface ImportFileOptions extends ImportOptions {
  /** Rename the file in rather than copy it (a copy across filesystems); a refused file is put back. */
  move?: boolean;
}
export interface ImportStreamOptions extends ImportOptions {
  name: string;
  /** Declared length (Content-Length): a stream that ends before it is refused. */
  bytes?: number;
  maxBytes?: number;
}
export interface ImportResult {
  entry: ModelEntry;
  /** The same bytes were registered already: that entry, and no second copy. */
  duplicate: boolean;
}

/** What the registry lends the import: its table, its folders, time and part-file names. */
export interface IngestDeps {
  store: Store;
  modelsDir: string;
  incoming: string;
  now(): number;
  randomId(): string;
  get(idOrName: string): ModelEntry | null;
  bySha(sha256: string): ModelEntry | null;
  insert(entry: ModelEntry): void;
}

const quietly = (p: Promise<unknown>) => p.catch(() => undefined);

function throwIt(err: Error): never {
  throw err;
}

function syncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function createIngest(deps: IngestDeps) {
  const { store, modelsDir, incoming, now } = deps;
  const nameTaken = (name: string, holder: ModelEntry) =>
    bytes.refuse("name-taken", `the name ${name} is taken by model ${holder.id}; choose another name`, {
      holder: holder.id,
    });
  /** Before hashing gigabytes: a taken name can only end as a duplicate of the same-sized model. */
  const precheckName = (name: string, size: number | undefined) => {
    const holder = deps.get(name);
    if (holder && holder.bytes !== size) throw nameTaken(name, holder);
  };

  async function commit(
    part: string,
    kind: ModelKind,
    got: Received,
    name: string,
    o: ImportOptions,
    label: string,
  ) {
    const d = await bytes.describeModel(kind, part, label);
    const expected = bytes.checkSha256(o.expectSha256);
    if (expected && expected !== got.sha256) {
      const details = { actual: got.sha256, expected };
      throw bytes.refuse(
        "hash-mismatch",
        `${label} has sha256 ${got.sha256}, not the expected ${expected}`,
        details,
      );
    }
    const id = got.sha256.slice(0, 16);
    let renamedTo: string | null = null;
    const take = (file: string) => {
      renameSync(part, join(modelsDir, file));
      renamedTo = join(modelsDir, file);
      syncDir(modelsDir);
    };
    try {
      return store.transaction(
        (): ImportResult => {
          const same = deps.bySha(got.sha256);
          if (same) {
            // The same bytes again repair a registered model whose file went missing.
            if (!existsSync(join(modelsDir, same.file))) take(same.file);
            return { entry: same, duplicate: true };
          }
          const holder = deps.get(name);
          if (holder) throw nameTaken(name, holder);
          if (deps.get(id)) throw bytes.refuse("invalid", `${label}: model id ${id} is taken by other bytes`);
          const entry: ModelEntry = { id, name, kind, file: `${id}.${kind}`, ...got, ...d, addedAt: now() };
          deps.insert(entry);
          take(entry.file);
          return { entry, duplicate: false };
        },
        { durable: true },
      );
    } catch (err) {
      // Renamed but not committed: back to the part path, where the caller's cleanup deals with it.
      if (renamedTo) renameSync(renamedTo, part);
      throw err;
    }
  }

  async function importFile(path: string, o: ImportFileOptions = {}): Promise<ImportResult> {
    const st = await stat(path).catch((err: NodeJS.ErrnoException) => {
      throw err.code === "ENOENT"
        ? kianaError("MODEL_NOT_FOUND", `${path} does not exist`, { path })
        : bytes.refuse("invalid", `${path} cannot be read: ${describeError(err)}`, {}, err);
    });
    if (!st.isFile()) throw bytes.refuse("not-a-model", `${path} is not a regular file`);
    const name = bytes.checkName(o.name ?? bytes.defaultName(path));
    bytes.checkSha256(o.expectSha256);
    const head = new Uint8Array(8);
    const src = await open(path, "r");
    await src.read(head, 0, 8, 0).finally(() => src.close());
    const kind = bytes.sniffKind(head) ?? throwIt(bytes.notAModel(path));
    // Refuses a truncated or malformed header before gigabytes are copied; the copy is read again.
    await bytes.describeModel(kind, path, path);
    precheckName(name, st.size);

    // A file moved in is the user's own: ".moving", which start-up tidying never deletes.
    const id = deps.randomId();
    let part = join(incoming, `${id}.part`);
    let moved = false;
    if (o.move) {
      try {
        await rename(path, join(incoming, `${id}.moving`));
        part = join(incoming, `${id}.moving`);
        moved = true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
      }
    }
    try {
      const from = await open(moved ? part : path, "r");
      let got: Received;
      try {
        const to = moved ? null : await open(part, "wx", 0o644);
        try {
          const progress = { total: st.size, label: path, onProgress: o.onProgress };
          got = await bytes.receive(bytes.fileChunks(from), to, progress);
        } finally {
          await to?.close();
        }
      } finally {
        await from.close();
      }
      const result = await commit(part, kind, got, name, o, path);
      if (o.move && !moved && !result.duplicate) await unlink(path);
      return result;
    } finally {
      if (moved) await quietly(rename(part, path));
      else await quietly(unlink(part));
    }
  }

  async function importStream(readable: ReadableStream<Uint8Array>, o: ImportStreamOptions) {
    const label = `upload ${o.name}`;
    let part: string | null = null;
    try {
      bytes.checkName(o.name);
      bytes.checkSha256(o.expectSha256);
      if (o.bytes !== undefined && o.maxBytes !== undefined && o.bytes > o.maxBytes) {
        throw bytes.refuse(
          "too-large",
          `${label} declares ${o.bytes} bytes, over the limit of ${o.maxBytes}`,
        );
      }
      precheckName(o.name, o.bytes);
      part = join(incoming, `${deps.randomId()}.part`);
      const to = await open(part, "wx", 0o644);
      let kind: ModelKind | null = null;
      let got: Received;
      try {
        const chunks = bytes.sniffed(bytes.streamChunks(readable, label), label, (k) => {
          kind = k;
        });
        const limits = { total: o.bytes ?? null, maxBytes: o.maxBytes, label, onProgress: o.onProgress };
        got = await bytes.receive(chunks, to, limits);
      } finally {
        await to.close();
      }
      if (o.bytes !== undefined && got.bytes < o.bytes) {
        throw bytes.refuse("ended-early", `${label} ended after ${got.bytes} of ${o.bytes} bytes`);
      }
      if (o.bytes !== undefined && got.bytes > o.bytes) {
        throw bytes.refuse(
          "too-large",
          `${label} sent ${got.bytes} bytes, more than the ${o.bytes} declared`,
        );
      }
      return await commit(part, kind ?? throwIt(bytes.notAModel(label)), got, o.name, o, label);
    } finally {
      if (!readable.locked) await quietly(readable.cancel());
      if (part) await quietly(unlink(part));
    }
  }

  return { importFile, importStream };
}
