// Shared by the registry tests: a fresh store with the registry migration and a models dir per test,
// and small probes for what a refusal left behind.
import { afterAll } from "bun:test";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isKianaError } from "../errors.ts";
import { MIGRATIONS, openStore } from "../store/index.ts";
import { createModelRegistry, importRefusal } from "./registry.ts";
import { withModelsMigration } from "./registry-migration.ts";

/** A temporary folder for one test file, removed after it; `setup` gives each test its own registry. */
export function registryFixtures() {
  const tmp = mkdtempSync(join(tmpdir(), "kiana-registry-"));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  let n = 0;
  const scratch = (name: string) => join(tmp, `${name}${n++}`);
  return { scratch, setup: (now?: () => number) => setupRegistry(scratch("r"), now) };
}

function setupRegistry(dir: string, now = () => 1_700_000_000_000) {
  const src = join(dir, "src");
  mkdirSync(src, { recursive: true });
  const store = openStore({ path: join(dir, "kiana.db"), migrations: withModelsMigration(MIGRATIONS) });
  const modelsDir = join(dir, "models");
  const registry = createModelRegistry({ store, modelsDir, now });
  const count = () => store.db.query<{ n: number }, []>("SELECT count(*) AS n FROM model").get()?.n;
  const parts = () => readdirSync(join(modelsDir, ".incoming"));
  return { dir, src, store, modelsDir, registry, count, parts };
}

export const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

export async function refusal(
  p: Promise<unknown>,
): Promise<{ code: string; reason: string | null; message: string }> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  if (!isKianaError(err)) throw new Error(`expected a refusal, got ${err}`);
  return { code: err.code, reason: importRefusal(err), message: err.message };
}
