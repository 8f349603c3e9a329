// Model registry: tiny GGUF and ONNX models described by their headers, duplicates and names, remove,
// verify catching changed and missing files, and start-up tidying.
import { expect, test } from "bun:test";
import {
  existsSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { MIGRATIONS, openStore } from "../store/index.ts";
import { readGgufInfo } from "./gguf.ts";
import { kv, tinyLlamaSpec, writeGguf, writeTinyLlama } from "./gguf-writer.test-helper.ts";
import { writeTinyOnnx } from "./onnx-writer.test-helper.ts";
import { refusal, registryFixtures, sha256 } from "./registry.test-helper.ts";
import { createModelRegistry } from "./registry.ts";

const { scratch, setup } = registryFixtures();

test("the tiny GGUF is copied under its hash and described by its header, not its file name", async () => {
  const t = setup();
  const path = join(t.src, "qwen-70b-q8_0.gguf");
  writeTinyLlama(path);
  const header = await readGgufInfo(path);
  const { entry, duplicate } = await t.registry.importFile(path);
  expect(duplicate).toBe(false);
  const hash = sha256(path);
  expect(entry).toMatchObject({
    id: hash.slice(0, 16),
    name: "qwen-70b-q8_0",
    kind: "gguf",
    file: `${hash.slice(0, 16)}.gguf`,
    sha256: hash,
    bytes: statSync(path).size,
    architecture: "llama",
    parameters: header.parameterCount,
    quantization: "F16",
    contextLength: 256,
    addedAt: 1_700_000_000_000,
  });
  expect(entry.meta).toMatchObject({ blockCount: 2, headCount: 4, headCountKv: 2, name: "kiana-tiny-llama" });
  expect(entry.meta.layerBytes).toEqual(header.layerBytes);
  expect(readFileSync(t.registry.pathOf(entry))).toEqual(readFileSync(path));
  expect(existsSync(path)).toBe(true);
  expect(t.registry.list()).toEqual([entry]);
  expect(t.registry.get(entry.id)).toEqual(entry);
  expect(t.registry.get("qwen-70b-q8_0")).toEqual(entry);
  expect(t.parts()).toEqual([]);
});

test("64-bit header values come back as strings, the same from the import as from the database", async () => {
  const t = setup();
  const spec = tinyLlamaSpec();
  spec.kvs.push(
    ["general.size_label", kv.str("tiny")],
    ["kiana.big", { type: "uint64", value: 2n ** 60n + 1n }],
  );
  writeGguf(join(t.src, "big-kv.gguf"), spec);
  const { entry } = await t.registry.importFile(join(t.src, "big-kv.gguf"));
  expect(entry.meta.metadata).toMatchObject({
    "kiana.big": "1152921504606846977",
    "general.size_label": "tiny",
  });
  expect(JSON.parse(JSON.stringify(entry))).toEqual(entry);
  expect(t.registry.list()).toEqual([entry]);
});

test("the tiny ONNX model is recognised without a magic number and listed by name", async () => {
  const t = setup();
  const path = join(t.src, "tiny.bin");
  writeTinyOnnx(path);
  await t.registry.importFile(path, { name: "zz-mlp", expectSha256: sha256(path).toUpperCase() });
  const { entry } = await t.registry.importFile(join(t.src, "tiny.bin"), { name: "other" });
  expect(entry).toMatchObject({ name: "zz-mlp", kind: "onnx", parameters: 15, architecture: null });
  expect(entry.meta).toMatchObject({ irVersion: 8, graphName: "tiny-mlp", nodeCount: 3 });
  writeTinyLlama(join(t.src, "a.gguf"));
  await t.registry.importFile(join(t.src, "a.gguf"));
  expect(t.registry.list().map((e) => e.name)).toEqual(["a", "zz-mlp"]);
});

test("the same bytes twice give the existing entry; a taken name is refused for other bytes", async () => {
  const t = setup();
  writeTinyLlama(join(t.src, "a.gguf"));
  writeTinyLlama(join(t.src, "b.gguf"), { seed: 2 });
  const first = await t.registry.importFile(join(t.src, "a.gguf"), { name: "tiny" });
  const again = await t.registry.importFile(join(t.src, "a.gguf"), { name: "tiny-copy" });
  expect(again).toEqual({ entry: first.entry, duplicate: true });
  const clash = await refusal(t.registry.importFile(join(t.src, "b.gguf"), { name: "tiny" }));
  expect(clash).toMatchObject({ reason: "name-taken" });
  expect(clash.message).toContain(`taken by model ${first.entry.id}`);
  expect([t.count(), t.parts()]).toEqual([1, []]);
  expect(readdirSync(t.modelsDir).sort()).toEqual([".incoming", first.entry.file]);
});

test("remove forgets the model and deletes its file; a file already gone is fine", async () => {
  const t = setup();
  writeTinyLlama(join(t.src, "a.gguf"));
  writeTinyOnnx(join(t.src, "b.onnx"));
  const a = (await t.registry.importFile(join(t.src, "a.gguf"))).entry;
  const b = (await t.registry.importFile(join(t.src, "b.onnx"))).entry;
  expect((await t.registry.remove("a")).id).toBe(a.id);
  expect(existsSync(t.registry.pathOf(a))).toBe(false);
  rmSync(t.registry.pathOf(b));
  await t.registry.remove(b.id);
  expect(t.registry.list()).toEqual([]);
  expect(await refusal(t.registry.remove("a"))).toMatchObject({ code: "MODEL_NOT_FOUND" });
});

test("verify finds a changed byte, a changed size and a missing file; importing again repairs", async () => {
  const t = setup();
  const names = ["a", "b", "c", "d"];
  for (const [i, name] of names.entries()) writeTinyLlama(join(t.src, `${name}.gguf`), { seed: i + 1 });
  const entries = [];
  for (const name of names) entries.push((await t.registry.importFile(join(t.src, `${name}.gguf`))).entry);
  const [a, b, c] = entries.map((e) => t.registry.pathOf(e)) as [string, string, string];
  const flipped = readFileSync(a);
  flipped[flipped.length - 7] = (flipped[flipped.length - 7] ?? 0) ^ 1;
  writeFileSync(a, flipped);
  truncateSync(b, statSync(b).size - 1);
  rmSync(c);
  writeFileSync(join(t.modelsDir, "0123456789abcdef.gguf"), "left by a crash");
  const seen: string[] = [];
  const report = await t.registry.verify(undefined, { onResult: (r) => seen.push(r.entry.name) });
  expect(report.results.map((r) => [r.entry.name, r.status])).toEqual([
    ["a", "hash-mismatch"],
    ["b", "size-changed"],
    ["c", "missing"],
    ["d", "ok"],
  ]);
  expect(seen).toEqual(names);
  expect(report.results[0]?.detail).toContain(`registered as ${entries[0]?.sha256}`);
  expect(report.unregistered).toEqual(["0123456789abcdef.gguf"]);

  expect((await t.registry.importFile(join(t.src, "c.gguf"), { name: "c2" })).duplicate).toBe(true);
  expect((await t.registry.verify("c")).results[0]?.status).toBe("ok");
  expect(await refusal(t.registry.verify("nope"))).toMatchObject({ code: "MODEL_NOT_FOUND" });
});

test("start-up tidying deletes part files older than an hour; fresh ones and moved-in files stay", async () => {
  const t = setup();
  const incoming = join(t.modelsDir, ".incoming");
  const hourAgo = new Date(Date.now() - 61 * 60_000);
  for (const f of ["old.part", "new.part", "keep.txt", "crashed.moving"])
    writeFileSync(join(incoming, f), "x");
  utimesSync(join(incoming, "old.part"), hourAgo, hourAgo);
  utimesSync(join(incoming, "crashed.moving"), hourAgo, hourAgo);
  const registry = createModelRegistry({ store: t.store, modelsDir: t.modelsDir, now: () => Date.now() });
  expect(readdirSync(incoming).sort()).toEqual(["crashed.moving", "keep.txt", "new.part"]);
  // A move that crashed left the user's own file: verify points at it instead of anything deleting it.
  expect((await registry.verify()).unregistered).toEqual([join(".incoming", "crashed.moving")]);
});

test("a database without the registry migration is named rather than failing on a query", () => {
  const store = openStore({
    path: `${scratch("bare")}.db`,
    migrations: MIGRATIONS.filter((m) => m.version < 9),
  });
  expect(() => createModelRegistry({ store, modelsDir: scratch("bare-models") })).toThrow(/migration 9/);
});
