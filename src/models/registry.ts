// The model registry: GGUF and ONNX files imported once into <modelsDir>/<id>.<ext>, described by
// their own headers (never by their names), listed in the `model` table and re-hashed on request.
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, statSync, unlinkSync } from "node:fs";
import { open, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { describeError, kianaError } from "../errors.ts";
import type { Store } from "../store/index.ts";
import { fileChunks, type ModelKind, metaJson, type Received, receive } from "./registry-bytes.ts";
import { createIngest } from "./registry-ingest.ts";

export { type ImportRefusal, importRefusal, type ModelKind } from "./registry-bytes.ts";
export type {
  ImportFileOptions,
  ImportOptions,
  ImportResult,
  ImportStreamOptions,
} from "./registry-ingest.ts";

export interface ModelEntry {
  /** First 16 hex digits of the sha256. */
  id: string;
  name: string;
  kind: ModelKind;
  /** Relative to the models directory. */
  file: string;
  sha256: string;
  bytes: number;
  architecture: string | null;
  parameters: number | null;
  quantization: string | null;
  contextLength: number | null;
  /** The rest of the header summary: GGUF layer sizes and head counts, ONNX inputs and outputs, ... */
  meta: Record<string, unknown>;
  addedAt: number;
}

export type VerifyStatus = "ok" | "missing" | "size-changed" | "hash-mismatch" | "unreadable";
export interface VerifyResult {
  entry: ModelEntry;
  status: VerifyStatus;
  detail: string;
}
export interface VerifyReport {
  results: VerifyResult[];
  /** Relative to the models dir: model-named files without a row (a crash between rename and commit)
   * and files a crashed `move` import left in .incoming; reported, never deleted. */
  unregistered: string[];
}

export interface ModelRegistryOptions {
  store: Store;
  /** `<data>/models`; created when missing. */
  modelsDir: string;
  now?: () => number;
  /** Names part files; random so that two imports never share one. */
  randomId?: () => string;
}

export type ModelRegistry = ReturnType<typeof createModelRegistry>;

type ModelRow = Omit<ModelEntry, "contextLength" | "meta" | "addedAt"> & {
  context_length: number | null;
  meta: string;
  added_at: number;
};

const STALE_PART_MS = 60 * 60 * 1000;
const MODEL_FILE = /^[0-9a-f]{16}\.(gguf|onnx)$/;

const toEntry = (r: ModelRow): ModelEntry => ({
  id: r.id,
  name: r.name,
  kind: r.kind,
  file: r.file,
  sha256: r.sha256,
  bytes: r.bytes,
  architecture: r.architecture,
  parameters: r.parameters,
  quantization: r.quantization,
  contextLength: r.context_length,
  meta: JSON.parse(r.meta),
  addedAt: r.added_at,
});

export function createModelRegistry(opts: ModelRegistryOptions) {
  const { store, modelsDir } = opts;
  const now = opts.now ?? Date.now;
  const incoming = join(modelsDir, ".incoming");
  mkdirSync(incoming, { recursive: true, mode: 0o750 });
  const db = store.db;
  if (!db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'model'").get()) {
    throw kianaError(
      "STORE_MIGRATION_FAILED",
      "the database has no model table: migration 9 (model registry) has not been applied",
    );
  }
  const byKey = db.query<ModelRow, [string, string]>("SELECT * FROM model WHERE id = ? OR name = ?");
  const bySha = db.query<ModelRow, [string]>("SELECT * FROM model WHERE sha256 = ?");
  const all = db.query<ModelRow, []>("SELECT * FROM model ORDER BY name");
  const insert = db.query(`INSERT INTO model (id, name, kind, file, sha256, bytes, architecture, parameters,
    quantization, context_length, meta, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);

  const get = (key: string): ModelEntry | null => {
    const row = byKey.get(key, key);
    return row ? toEntry(row) : null;
  };
  const mustGet = (key: string): ModelEntry => {
    const entry = get(key);
    if (!entry) throw kianaError("MODEL_NOT_FOUND", `no model has the id or name ${key}`, { key });
    return entry;
  };
  const pathOf = (entry: Pick<ModelEntry, "file">) => join(modelsDir, entry.file);

  const ingest = createIngest({
    store,
    modelsDir,
    incoming,
    now,
    randomId: opts.randomId ?? (() => randomBytes(8).toString("hex")),
    get,
    bySha: (sha256) => {
      const row = bySha.get(sha256);
      return row ? toEntry(row) : null;
    },
    insert: (e) =>
      insert.run(
        ...[e.id, e.name, e.kind, e.file, e.sha256, e.bytes, e.architecture, e.parameters, e.quantization],
        ...[e.contextLength, metaJson(e.meta), e.addedAt],
      ),
  });

  async function verifyOne(entry: ModelEntry): Promise<VerifyResult> {
    const path = pathOf(entry);
    const result = (status: VerifyStatus, detail: string) => ({ entry, status, detail });
    try {
      const st = await stat(path);
      if (st.size !== entry.bytes) {
        return result("size-changed", `${path} has ${st.size} bytes, registered with ${entry.bytes}`);
      }
      const fh = await open(path, "r");
      let got: Received;
      try {
        got = await receive(fileChunks(fh), null, { total: st.size, label: path });
      } finally {
        await fh.close();
      }
      if (got.sha256 !== entry.sha256) {
        return result("hash-mismatch", `${path} has sha256 ${got.sha256}, registered as ${entry.sha256}`);
      }
      return result("ok", `${path}: sha256 matches`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT")
        return result("missing", `${path} does not exist`);
      // A failing SD card reads as EIO: say so for this model and go on with the others.
      return result("unreadable", `${path} cannot be read: ${describeError(err)}`);
    }
  }

  /** Deletes part files an interrupted import left more than an hour ago; returns their names. */
  function tidy(): string[] {
    const removed: string[] = [];
    for (const f of readdirSync(incoming)) {
      if (!f.endsWith(".part")) continue;
      try {
        if (statSync(join(incoming, f)).mtimeMs < now() - STALE_PART_MS) {
          unlinkSync(join(incoming, f));
          removed.push(f);
        }
      } catch {
        // Finished or removed by its own import meanwhile.
      }
    }
    return removed;
  }
  tidy();

  return {
    modelsDir,
    importFile: ingest.importFile,
    importStream: ingest.importStream,
    list: (): ModelEntry[] => all.all().map(toEntry),
    get,
    pathOf,
    /** Forgets the model, then deletes its file; a file already gone is fine. */
    async remove(key: string): Promise<ModelEntry> {
      const entry = mustGet(key);
      store.transaction((d) => d.query("DELETE FROM model WHERE id = ?").run(entry.id), { durable: true });
      await unlink(pathOf(entry)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== "ENOENT") throw err;
      });
      return entry;
    },
    /** Re-hashes one model or all, one file at a time through fixed buffers, reporting as it goes. */
    async verify(key?: string, o: { onResult?(r: VerifyResult): void } = {}): Promise<VerifyReport> {
      const entries = key === undefined ? all.all().map(toEntry) : [mustGet(key)];
      const results: VerifyResult[] = [];
      for (const entry of entries) {
        const r = await verifyOne(entry);
        results.push(r);
        o.onResult?.(r);
      }
      const known = new Set(entries.map((e) => e.file));
      const moving = readdirSync(incoming).filter((f) => f.endsWith(".moving"));
      const unregistered =
        key === undefined
          ? [
              ...readdirSync(modelsDir).filter((f) => MODEL_FILE.test(f) && !known.has(f)),
              ...moving.map((f) => join(".incoming", f)),
            ]
          : [];
      return { results, unregistered };
    },
    tidy,
  };
}
