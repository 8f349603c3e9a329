// Model imports: every refusal and failure leaves no row and no part file behind, racing names, moves
// put back, and a header claiming 70B parameters registered with its claimed numbers.
import { expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLAIMED_MODELS, claimedSpec } from "./claimed-models.test-helper.ts";
import { fileTypeId } from "./ggml-types.ts";
import { encodeGguf, kv, writeTinyLlama } from "./gguf-writer.test-helper.ts";
import { refusal, registryFixtures, sha256 } from "./registry.test-helper.ts";

const { setup } = registryFixtures();

test("a file that is not a model, a truncated GGUF and a bad name are refused before anything is kept", async () => {
  const t = setup();
  writeFileSync(join(t.src, "notes.gguf"), "these are not weights\n");
  const notModel = await refusal(t.registry.importFile(join(t.src, "notes.gguf")));
  expect(notModel).toMatchObject({ code: "MODEL_FILE_INVALID", reason: "not-a-model" });
  expect(notModel.message).toContain("neither a GGUF nor an ONNX model");

  const cut = join(t.src, "cut.gguf");
  writeTinyLlama(cut);
  truncateSync(cut, statSync(cut).size - 100);
  const truncated = await refusal(t.registry.importFile(cut));
  expect(truncated).toMatchObject({ code: "MODEL_FILE_INVALID", reason: "invalid" });
  expect(truncated.message).toMatch(/cut\.gguf: .*truncated/);

  writeTinyLlama(join(t.src, "ok.gguf"));
  const badName = await refusal(t.registry.importFile(join(t.src, "ok.gguf"), { name: "../etc" }));
  expect(badName.reason).toBe("name-invalid");
  expect(await refusal(t.registry.importFile(join(t.src, "absent.gguf")))).toMatchObject({
    code: "MODEL_NOT_FOUND",
  });
  expect([t.count(), t.parts(), readdirSync(t.modelsDir)]).toEqual([0, [], [".incoming"]]);
});

test("a wrong expected sha256 is refused after the copy, and the copy is removed", async () => {
  const t = setup();
  const path = join(t.src, "m.gguf");
  writeTinyLlama(path);
  const wrong = "ab".repeat(32);
  const r = await refusal(t.registry.importFile(path, { expectSha256: wrong }));
  expect(r).toMatchObject({ code: "MODEL_HASH_MISMATCH", reason: "hash-mismatch" });
  expect(r.message).toContain(`has sha256 ${sha256(path)}, not the expected ${wrong}`);
  expect([t.count(), t.parts(), readdirSync(t.modelsDir)]).toEqual([0, [], [".incoming"]]);
});

test("two uploads racing for one name: the later commit is refused and its copy removed", async () => {
  const t = setup();
  const bodies = [1, 2].map((seed) => {
    writeTinyLlama(join(t.src, `${seed}.gguf`), { seed });
    const bytes = readFileSync(join(t.src, `${seed}.gguf`));
    let finish = () => {};
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(bytes.subarray(0, 1000));
        finish = () => {
          c.enqueue(bytes.subarray(1000));
          c.close();
        };
      },
    });
    return { stream, finish: () => finish() };
  });
  // Both pass the early name check: nothing is registered while their bytes are still arriving.
  const [first, second] = bodies.map((b) => t.registry.importStream(b.stream, { name: "raced" }));
  bodies[0]?.finish();
  expect((await first)?.entry.name).toBe("raced");
  bodies[1]?.finish();
  expect(await refusal(second as Promise<unknown>)).toMatchObject({ reason: "name-taken" });
  expect([t.count(), t.parts(), readdirSync(t.modelsDir).length]).toEqual([1, [], 2]);
});

test("a stream that fails midway, ends early or runs over its cap leaves no row and no part file", async () => {
  const t = setup();
  const path = join(t.src, "m.gguf");
  writeTinyLlama(path);
  const bytes = readFileSync(path);
  const failing = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(bytes.subarray(0, 4096));
    },
    pull(c) {
      c.error(new Error("connection reset"));
    },
  });
  const reset = await refusal(t.registry.importStream(failing, { name: "up" }));
  expect(reset).toMatchObject({ reason: "ended-early" });
  expect(reset.message).toContain("upload up failed after 4096 bytes: connection reset");

  const short = await refusal(
    t.registry.importStream(new Blob([bytes.subarray(0, 9000)]).stream(), {
      name: "up",
      bytes: bytes.length,
    }),
  );
  expect(short.message).toContain(`ended after 9000 of ${bytes.length} bytes`);
  const capped = await refusal(
    t.registry.importStream(new Blob([bytes]).stream(), { name: "up", maxBytes: 5000 }),
  );
  expect(capped.reason).toBe("too-large");
  const junk = await refusal(t.registry.importStream(new Blob(["<html>"]).stream(), { name: "up" }));
  expect(junk.reason).toBe("not-a-model");
  expect([t.count(), t.parts()]).toEqual([0, []]);

  const ok = await t.registry.importStream(new Blob([bytes]).stream(), { name: "up", bytes: bytes.length });
  expect(ok.entry).toMatchObject({ name: "up", sha256: sha256(path), architecture: "llama" });
});

test("a 70B header with its weights as zeros is registered with its claimed numbers, sparse on disk", async () => {
  const t = setup();
  // IQ1_S, the smallest quantization the reader knows, keeps the bytes to hash near 14 GB. They come
  // from memory rather than a sparse file: reading that many holes back costs the kernel far more.
  const spec = claimedSpec(CLAIMED_MODELS["70B Q4_K_M"]);
  spec.tensors = spec.tensors.map((x) => (x.type === "F32" ? x : { ...x, type: "IQ1_S" }));
  spec.kvs = spec.kvs.map(([k, v]) => [k, k === "general.file_type" ? kv.u32(fileTypeId("IQ1_S")) : v]);
  const { header, totalBytes } = encodeGguf(spec);
  const zeros = new Uint8Array(4 << 20);
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      const chunk = sent === 0 ? header : zeros.subarray(0, Math.min(zeros.length, totalBytes - sent));
      sent += chunk.length;
      if (chunk.length > 0) c.enqueue(chunk);
      else c.close();
    },
  });
  const progress: number[] = [];
  const { entry } = await t.registry.importStream(body, {
    name: "llama-70b",
    bytes: totalBytes,
    onProgress: (done) => progress.push(done),
  });
  expect(entry).toMatchObject({ architecture: "llama", quantization: "IQ1_S", contextLength: 131072 });
  expect(entry.bytes).toBe(totalBytes);
  expect(totalBytes).toBeGreaterThan(13e9);
  expect(entry.parameters).toBeGreaterThan(70e9);
  expect(entry.parameters).toBeLessThan(71e9);
  expect(entry.meta).toMatchObject({ blockCount: 80, headCountKv: 8, vocabSize: 128256 });
  expect(t.registry.get("llama-70b")).toEqual(entry);
  const st = statSync(t.registry.pathOf(entry));
  expect(st.size).toBe(totalBytes);
  // The header's chunk is written; the 13 GB of zeros after it are holes.
  expect(st.blocks * 512).toBeLessThan(16 << 20);
  expect(progress.length).toBeLessThanOrEqual(101);
  expect(progress.at(-1)).toBe(totalBytes);
}, 120_000);

test("a move renames the file in; a refused move puts it back where it was", async () => {
  const t = setup();
  const path = join(t.src, "m.gguf");
  writeTinyLlama(path);
  const before = readFileSync(path);
  await refusal(t.registry.importFile(path, { move: true, expectSha256: "00".repeat(32) }));
  expect(readFileSync(path)).toEqual(before);
  expect([t.count(), t.parts()]).toEqual([0, []]);
  const { entry } = await t.registry.importFile(path, { move: true });
  expect(existsSync(path)).toBe(false);
  expect(readFileSync(t.registry.pathOf(entry))).toEqual(before);
});
