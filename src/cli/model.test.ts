// `kiana model import|list|remove|verify` as a person reads it: the table, the refusals, the progress
// line for a big file, and verify's exit status naming the model that changed.
import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../config/index.ts";
import { isKianaError } from "../errors.ts";
import { writeGguf, writeTinyLlama } from "../models/gguf-writer.test-helper.ts";
import { writeTinyOnnx } from "../models/onnx-writer.test-helper.ts";
import { withModelsMigration } from "../models/registry-migration.ts";
import { createLogger } from "../platform/log.ts";
import { MIGRATIONS, openStore } from "../store/index.ts";
import { formatBytes, formatCount, runModelCommand } from "./model.ts";

const tmp = mkdtempSync(join(tmpdir(), "kiana-cli-model-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;

function setup() {
  const data = join(tmp, `d${n++}`);
  mkdirSync(data, { recursive: true });
  const config = loadConfig({ env: {}, flags: { data }, deviceConfigFile: join(data, "no-device.toml") });
  const log = createLogger({ level: "warn", write: () => {} });
  const kiana = async (
    sub: string,
    args: string[] = [],
    flags: Record<string, string> = {},
    json = false,
  ) => {
    let stdout = "";
    let stderr = "";
    const code = await runModelCommand(sub, args, flags, json, config, log, {
      out: (t) => {
        stdout += t;
      },
      err: (t) => {
        stderr += t;
      },
      errIsTty: false,
      openStore: () =>
        openStore({ path: join(data, "kiana.db"), migrations: withModelsMigration(MIGRATIONS) }),
    });
    return { code, stdout, stderr };
  };
  return { data, kiana };
}

async function usageError(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  if (!isKianaError(err)) throw new Error(`expected an error, got ${err}`);
  return `${err.code}: ${err.message}`;
}

test("import, list, import again, remove: what each says", async () => {
  const { data, kiana } = setup();
  writeTinyLlama(join(data, "tiny.gguf"));
  writeTinyOnnx(join(data, "mlp.onnx"));
  const imported = await kiana("import", [join(data, "tiny.gguf")], { name: "tiny" });
  expect(imported.code).toBe(0);
  expect(imported.stdout).toMatch(
    /^imported tiny \([0-9a-f]{16}\): llama, [\d.]+K parameters, F16, context 256, [\d.]+ KiB\n$/,
  );
  expect(imported.stderr).toBe("");
  await kiana("import", [join(data, "mlp.onnx")]);

  const list = await kiana("list");
  const lines = list.stdout.trimEnd().split("\n");
  expect(lines[0]).toMatch(/^ID {16}NAME {2}KIND {2}ARCH {3}PARAMS {2}QUANT {2}CTX {2}SIZE$/);
  expect(lines[1]).toMatch(/^[0-9a-f]{16} {2}mlp {3}onnx {2}- {6}15 {6}- {6}- {4}\d+ B$/);
  expect(lines[2]).toMatch(/^[0-9a-f]{16} {2}tiny {2}gguf {2}llama {2}[\d.]+K +F16 {4}256 {2}[\d.]+ KiB$/);
  const listed = JSON.parse((await kiana("list", [], {}, true)).stdout);
  expect(listed.map((e: { name: string }) => e.name)).toEqual(["mlp", "tiny"]);

  const again = await kiana("import", [join(data, "tiny.gguf")], { name: "tiny-2" });
  expect(again.stdout).toMatch(/^already registered as tiny \([0-9a-f]{16}\); nothing was copied\n$/);

  expect((await kiana("remove", ["tiny"])).stdout).toMatch(
    /^removed tiny \([0-9a-f]{16}\); [\d.]+ KiB freed\n$/,
  );
  expect((await kiana("remove", ["mlp"])).code).toBe(0);
  expect((await kiana("list")).stdout).toBe("no models yet; add one with: kiana model import <file>\n");
  expect(await usageError(kiana("remove", ["tiny"]))).toContain(
    "MODEL_NOT_FOUND: no model has the id or name tiny",
  );
});

test("refusals name what was wrong; nothing is registered", async () => {
  const { data, kiana } = setup();
  writeFileSync(join(data, "readme.gguf"), "# not a model\n");
  writeTinyLlama(join(data, "tiny.gguf"));
  expect(await usageError(kiana("import", [join(data, "readme.gguf")]))).toMatch(
    /^MODEL_FILE_INVALID: .*readme\.gguf is neither a GGUF nor an ONNX model/,
  );
  expect(await usageError(kiana("import", [join(data, "tiny.gguf")], { sha256: "0".repeat(64) }))).toMatch(
    /^MODEL_HASH_MISMATCH: .*tiny\.gguf has sha256 [0-9a-f]{64}, not the expected 0{64}/,
  );
  expect(await usageError(kiana("import"))).toMatch(/^CLI_USAGE: model import needs an argument/);
  expect(await usageError(kiana("list", ["extra"]))).toMatch(/^CLI_USAGE: unexpected argument extra/);
  expect(await usageError(kiana("frobnicate"))).toContain("unknown model command frobnicate");
  expect((await kiana("list")).stdout).toContain("no models yet");
});

test("a big file shows its progress on stderr with percent and MiB/s", async () => {
  const { data, kiana } = setup();
  // A 272 MB sparse tensor: big enough for the progress line, a few KB on disk.
  writeGguf(join(data, "big.gguf"), {
    kvs: [["general.architecture", { type: "string", value: "llama" }]],
    tensors: [{ name: "token_embd.weight", dims: [4096, 16600], type: "F32" }],
  });
  const r = await kiana("import", [join(data, "big.gguf")]);
  expect(r.code).toBe(0);
  const lines = r.stderr.trimEnd().split("\n");
  expect(lines.length).toBeGreaterThan(2);
  expect(lines.length).toBeLessThanOrEqual(11);
  for (const line of lines)
    expect(line).toMatch(/^importing big\.gguf: \d{1,3}% of 259\.4 MiB, [\d.]+ MiB\/s$/);
  expect(lines.at(-1)).toContain(": 100% of");
  expect(r.stdout).toMatch(/^imported big \(/);
});

test("verify exits 1 naming the model whose byte changed and the one whose file is gone", async () => {
  const { data, kiana } = setup();
  for (const [i, name] of ["a", "b", "c"].entries()) {
    writeTinyLlama(join(data, `${name}.gguf`), { seed: i + 1 });
    await kiana("import", [join(data, `${name}.gguf`)]);
  }
  expect((await kiana("verify")).stdout).toMatch(
    /^ok {3}a \(\w+\)\nok {3}b \(\w+\)\nok {3}c \(\w+\)\nall 3 models ok\n$/,
  );
  const listed: { id: string; name: string; file: string }[] = JSON.parse(
    (await kiana("list", [], {}, true)).stdout,
  );
  const fileOf = (name: string) => join(data, "models", listed.find((e) => e.name === name)?.file as string);
  const bytes = readFileSync(fileOf("a"));
  bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0x40;
  writeFileSync(fileOf("a"), bytes);
  rmSync(fileOf("c"));

  const r = await kiana("verify");
  expect(r.code).toBe(1);
  expect(r.stdout).toContain(`BAD  a (${listed[0]?.id}): hash-mismatch: ${fileOf("a")} has sha256 `);
  expect(r.stdout).toMatch(/BAD {2}c \(\w+\): missing: .*does not exist\n/);
  expect(r.stdout).toMatch(/2 of 3 models are bad: a, c\n$/);
  expect((await kiana("verify", ["b"])).code).toBe(0);
  const asJson = JSON.parse((await kiana("verify", [], {}, true)).stdout);
  expect(asJson.results.map((x: { status: string }) => x.status)).toEqual(["hash-mismatch", "ok", "missing"]);
});

test("counts and sizes read the way model cards write them", () => {
  expect([1_543_714_304, 70_553_706_496, 494_032_768, 105_344, 15, null].map(formatCount)).toEqual([
    "1.5B",
    "70.6B",
    "494M",
    "105K",
    "15",
    "-",
  ]);
  expect([512, 1536, 1_117_320_736].map(formatBytes)).toEqual(["512 B", "1.5 KiB", "1.0 GiB"]);
});
