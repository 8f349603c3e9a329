// GGUF header reader: the tiny llama read back field by field, huge claimed headers over sparse
// files, and hostile variants (bad magic, absurd counts, truncation, fuzzed bytes) refused by name.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isKianaError } from "../errors.ts";
import { CLAIMED_MODELS, writeClaimedModel } from "./claimed-models.test-helper.ts";
import { readGgufInfo } from "./gguf.ts";
import {
  encodeGguf,
  type GgufSpec,
  kv,
  seededRandom,
  TINY_LLAMA,
  tensorByteSize,
  tinyLlamaSpec,
  tinyVocab,
  writeGguf,
} from "./gguf-writer.test-helper.ts";

const tmp = mkdtempSync(join(tmpdir(), "kiana-gguf-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let fileNo = 0;
const fresh = () => join(tmp, `m${fileNo++}.gguf`);

function writeBytes(bytes: Uint8Array): string {
  const path = fresh();
  writeFileSync(path, bytes);
  return path;
}

/** Expects MODEL_FILE_INVALID whose message matches every pattern. */
async function refused(path: string, ...patterns: RegExp[]): Promise<string> {
  const err = await readGgufInfo(path).then(
    () => null,
    (e: unknown) => e,
  );
  if (!isKianaError(err, "MODEL_FILE_INVALID")) throw new Error(`expected MODEL_FILE_INVALID, got ${err}`);
  for (const p of patterns) expect(err.message).toMatch(p);
  return err.message;
}

/** A one-tensor llama header, plus extra metadata, for the hostile cases. */
function mini(extra: GgufSpec["kvs"] = [], tensors?: GgufSpec["tensors"]): GgufSpec {
  const data = new Uint8Array(new Float32Array(32).fill(1).buffer);
  return {
    kvs: [["general.architecture", kv.str("llama")], ...extra],
    tensors: tensors ?? [{ name: "output_norm.weight", dims: [32], type: "F32", data }],
  };
}

/** The header bytes with a u32/u64 overwritten at the position `delta` bytes after `marker`'s end. */
function patch(header: Uint8Array, marker: string, delta: number, value: number | bigint, size = 4) {
  const out = header.slice();
  const m = new TextEncoder().encode(marker);
  const at = Buffer.from(out).indexOf(Buffer.from(m));
  if (at < 0) throw new Error(`marker ${marker} not found`);
  const view = new DataView(out.buffer);
  if (size === 8) view.setBigUint64(at + m.length + delta, BigInt(value), true);
  else view.setUint32(at + m.length + delta, Number(value), true);
  return out;
}

describe("the tiny llama", () => {
  const spec = tinyLlamaSpec({ seed: 7 });
  const path = fresh();
  const enc = writeGguf(path, spec);

  test("every field reads back as the writer wrote it", async () => {
    const info = await readGgufInfo(path, { includeTensors: true });
    const vocab = tinyVocab();
    const sizes = spec.tensors.map(tensorByteSize);
    const byType: Record<string, number> = {};
    spec.tensors.forEach((t, i) => {
      byType[t.type] = (byType[t.type] ?? 0) + (sizes[i] ?? 0);
    });
    expect(info).toMatchObject({
      format: "gguf",
      version: 3,
      architecture: "llama",
      name: "kiana-tiny-llama",
      parameterCount: spec.tensors.reduce((n, t) => n + t.dims.reduce((a, b) => a * b, 1), 0),
      fileType: 1,
      quantization: "F16",
      tensorCount: spec.tensors.length,
      tensorBytesByType: byType,
      contextLength: TINY_LLAMA.context,
      embeddingLength: TINY_LLAMA.embd,
      blockCount: TINY_LLAMA.layers,
      feedForwardLength: TINY_LLAMA.ff,
      headCount: TINY_LLAMA.heads,
      headCountKv: TINY_LLAMA.kvHeads,
      keyLength: TINY_LLAMA.embd / TINY_LLAMA.heads,
      vocabSize: vocab.tokens.length,
      alignment: 32,
      tensorDataOffset: enc.dataOffset,
      expectedFileBytes: enc.totalBytes,
      fileBytes: statSync(path).size,
      hasOutputWeight: true,
    });
    expect(info.tensors).toEqual(
      spec.tensors.map((t, i) => ({
        name: t.name,
        dims: t.dims,
        type: t.type,
        offset: enc.offsets[i] ?? -1,
        elements: t.dims.reduce((a, b) => a * b, 1),
        bytes: sizes[i] ?? -1,
      })),
    );
    const layer = sizes.filter((_, i) => spec.tensors[i]?.name.startsWith("blk.0.")).reduce((a, b) => a + b);
    expect(info.layerBytes).toEqual([layer, layer]);
    expect(info.embeddingBytes + info.outputBytes + 2 * layer).toBe(info.tensorBytes);
    expect(info.metadata["tokenizer.ggml.tokens"]).toEqual(vocab.tokens);
    expect(info.metadata["tokenizer.ggml.scores"]).toEqual(vocab.scores);
    expect(info.metadata["tokenizer.ggml.token_type"]).toEqual(vocab.types);
    expect(info.metadata["llama.attention.layer_norm_rms_epsilon"]).toBe(Math.fround(1e-5));
    expect(info.metadata["tokenizer.ggml.add_bos_token"]).toBe(true);
    expect(info.metadata["tokenizer.ggml.eos_token_id"]).toBe(2);
  });

  test("version 2, F32 matrices and a 64-byte alignment read back too", async () => {
    const s = tinyLlamaSpec({ version: 2, matrixType: "F32" });
    s.kvs.push(["general.alignment", kv.u32(64)]);
    const p = fresh();
    const e = writeGguf(p, { ...s, alignment: 64 });
    const info = await readGgufInfo(p);
    expect(info).toMatchObject({
      version: 2,
      quantization: "F32",
      alignment: 64,
      tensorDataOffset: e.dataOffset,
    });
    expect(info.tensorDataOffset % 64).toBe(0);
    expect(Object.keys(info.tensorBytesByType)).toEqual(["F32"]);
  });

  test("big arrays are summarized under tight limits, yet the vocabulary is still counted", async () => {
    const info = await readGgufInfo(path, { limits: { keepArrayLength: 100 } });
    const length = tinyVocab().tokens.length;
    expect(info.metadata["tokenizer.ggml.tokens"]).toEqual({ summary: true, type: "array[string]", length });
    expect(info.vocabSize).toBe(length);
  });
});

test("a 70B header over a sparse file reads its claimed size without the disk holding it", async () => {
  const path = fresh();
  writeClaimedModel(path, CLAIMED_MODELS["70B Q4_K_M"]);
  const info = await readGgufInfo(path);
  expect(info.parameterCount / 1e9).toBeCloseTo(70.55, 1);
  expect(info.tensorBytes / 2 ** 30).toBeCloseTo(39.5, 0);
  expect(info).toMatchObject({
    quantization: "Q4_K_M",
    contextLength: 131072,
    blockCount: 80,
    vocabSize: 128256,
  });
  expect(statSync(path).blocks * 512).toBeLessThan(1 << 20);
});

describe("refusals", () => {
  const tiny = encodeGguf(tinyLlamaSpec()).header;

  test("missing file, a directory", async () => {
    await expect(readGgufInfo(join(tmp, "nope.gguf"))).rejects.toMatchObject({ code: "MODEL_NOT_FOUND" });
    mkdirSync(join(tmp, "dir.gguf"));
    await expect(readGgufInfo(join(tmp, "dir.gguf"))).rejects.toMatchObject({ code: "MODEL_FILE_INVALID" });
  });

  test("wrong magic, an empty file, unsupported versions", async () => {
    const bad = tiny.slice();
    bad.set(new TextEncoder().encode("GGML"), 0);
    await refused(writeBytes(bad), /magic at offset 0/, /not a GGUF file/);
    await refused(writeBytes(new Uint8Array(0)), /magic/);
    const version = (v: number) => {
      const b = tiny.slice();
      new DataView(b.buffer).setUint32(4, v, true);
      return writeBytes(b);
    };
    await refused(version(1), /version at offset 4/, /version 1 is not supported/);
    await refused(version(0x03000000), /big-endian/);
    await refused(version(4), /unsupported GGUF version 4/);
  });

  test("absurd counts are refused before anything is allocated", async () => {
    const counts = (offset: number, v: bigint) => {
      const b = tiny.slice();
      new DataView(b.buffer).setBigUint64(offset, v, true);
      return writeBytes(b);
    };
    await refused(counts(8, 1n << 40n), /tensor_count at offset 8/, /exceeds the limit/);
    await refused(counts(16, 1n << 63n), /metadata_kv_count at offset 16/, /exceeds the limit/);
    await refused(counts(16, 100_000n), /metadata_kv_count/, /cannot fit/);
    await refused(counts(24, 1n << 50n), /metadata key length at offset 24/, /exceeds the limit/);
    // The tokens array claims 2^24 elements: within the cap but not within the file.
    await refused(
      writeBytes(patch(tiny, "tokenizer.ggml.tokens", 8, 1 << 24, 8)),
      /tokens length/,
      /past the end/,
    );
    await refused(
      writeBytes(patch(tiny, "general.name", 4, 1n << 60n, 8)),
      /general.name/,
      /exceeds the limit/,
    );
  });

  test("truncated header and truncated tensor data", async () => {
    await refused(writeBytes(tiny.slice(0, 1000)), /tokenizer\.ggml\.tokens/, /truncated/);
    await refused(writeBytes(tiny.slice(0, 30)), /tensor_count at offset 8/, /cannot fit/, /truncated/);
    const p = fresh();
    const e = writeGguf(p, tinyLlamaSpec());
    truncateSync(p, e.totalBytes - 1);
    await refused(p, /tensor output\.weight ends at \d+ but the file has \d+ bytes \(truncated\)/);
  });

  test("unknown value and tensor types, nested arrays, bad bools and UTF-8", async () => {
    await refused(writeBytes(patch(tiny, "general.architecture", 0, 13)), /unknown value type 13/);
    await refused(
      writeBytes(patch(tiny, "output.weight", 4 + 16, 99)),
      /output\.weight type/,
      /ggml type 99/,
    );
    await refused(writeBytes(patch(tiny, "output.weight", 4 + 16, 4)), /retired ggml type 4/);
    await refused(writeBytes(patch(tiny, "tokenizer.ggml.scores", 4, 9)), /nested arrays/);
    const bools = encodeGguf(mini([["x.flag", { type: "bool", value: true }]])).header;
    await refused(writeBytes(patch(bools, "x.flag", 4, 7)), /bool byte is 7/);
    const utf = encodeGguf(mini([["bad.key", kv.u32(1)]])).header;
    utf.set([0xff], Buffer.from(utf).indexOf(Buffer.from("bad.key")));
    await refused(writeBytes(utf), /not valid UTF-8/);
  });

  test("duplicates, overlaps, misalignment, odd shapes and bad metadata", async () => {
    const f32 = (name: string, offset?: number) => ({ name, dims: [32], type: "F32", offset });
    const write = (s: GgufSpec) => {
      const p = fresh();
      writeGguf(p, s);
      return p;
    };
    await refused(
      write(mini([["general.architecture", kv.str("x")]])),
      /general\.architecture/,
      /duplicate key/,
    );
    await refused(write(mini([], [f32("a"), f32("a")])), /tensor a/, /duplicate tensor name/);
    await refused(
      write(mini([], [f32("a", 0), f32("b", 128), f32("c", 224)])),
      /tensor c/,
      /overlaps tensor b/,
    );
    const long = { name: "long", dims: [1024], type: "F32", offset: 0 };
    await refused(
      write(mini([], [long, f32("in", 256), f32("after", 4096)])),
      /tensor in/,
      /overlaps tensor long/,
    );
    await refused(write(mini([], [f32("a", 8)])), /tensor a offset/, /not a multiple of the alignment 32/);
    await refused(write(mini([], [{ name: "q", dims: [100], type: "Q4_0" }])), /ne0 100 is not a multiple/);
    await refused(
      write(mini([], [{ name: "t", dims: [1, 1, 1, 1, 1], type: "F32" }])),
      /n_dims/,
      /exceeds 4/,
    );
    await refused(write(mini([], [f32("x".repeat(64))])), /tensor name length/);
    await refused(write(mini([["general.alignment", kv.u32(48)]])), /48 is not a power of two/);
    await refused(write(mini([["general.alignment", kv.i32(32)]])), /must be a uint32/);
    await refused(write(mini([["llama.block_count", kv.str("two")]])), /llama\.block_count/, /integer/);
    await refused(write({ ...mini(), kvs: [] }), /general\.architecture/, /missing/);
  });

  test("fuzzed and cut headers either parse or fail with MODEL_FILE_INVALID, never anything else", async () => {
    const rand = seededRandom(42);
    const p = fresh();
    const { dataOffset } = writeGguf(p, tinyLlamaSpec());
    const original = readFileSync(p);
    const outcomes = { parsed: 0, refused: 0 };
    for (let i = 0; i < 150; i++) {
      const b = new Uint8Array(original);
      for (let k = 0; k < 1 + Math.floor(rand() * 4); k++) {
        b[Math.floor(rand() * dataOffset)] = Math.floor(rand() * 256);
      }
      const cut = i % 5 === 0 ? b.subarray(0, Math.floor(rand() * dataOffset)) : b;
      const err = await readGgufInfo(writeBytes(cut)).then(
        () => null,
        (e: unknown) => e,
      );
      if (err === null) outcomes.parsed++;
      else if (isKianaError(err, "MODEL_FILE_INVALID")) outcomes.refused++;
      else throw err;
    }
    expect(outcomes.refused).toBeGreaterThan(50);
  });
});
