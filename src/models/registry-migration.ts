// Migration 9: the model registry, one row per model file kept under <data>/models/. The columns are
// what listing and load decisions filter on; everything else a header said goes into `meta` as JSON.
import type { Migration } from "../store/migrations.ts";

export const MODELS_MIGRATION: Migration = {
  version: 9,
  name: "model registry",
  up(db) {
    // id is the first 16 hex digits of sha256, so the same bytes imported twice meet the same row;
    // sha256 is unique as well, so a prefix collision can never hide a second, different file.
    db.run(`CREATE TABLE model (
      id TEXT PRIMARY KEY CHECK (length(id) = 16),
      name TEXT NOT NULL UNIQUE,
      kind TEXT NOT NULL CHECK (kind IN ('gguf', 'onnx')),
      file TEXT NOT NULL UNIQUE,
      sha256 TEXT NOT NULL UNIQUE CHECK (length(sha256) = 64),
      bytes INTEGER NOT NULL CHECK (bytes >= 0),
      architecture TEXT,
      parameters INTEGER,
      quantization TEXT,
      context_length INTEGER,
      meta TEXT NOT NULL DEFAULT '{}',
      added_at INTEGER NOT NULL
    ) STRICT`);
  },
};

/**
 * The migrations with the registry's appended unless the list already has it: tests and tools keep
 * working both before and after MIGRATIONS itself carries version 9.
 */
export function withModelsMigration(migrations: readonly Migration[]): readonly Migration[] {
  return migrations.some((m) => m.version === MODELS_MIGRATION.version)
    ? migrations
    : [...migrations, MODELS_MIGRATION];
}
