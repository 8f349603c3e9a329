// The tiny GGUF is a real model: node-llama-cpp (through the lazy engine loader, prebuilt CPU binary,
// never building) loads it, tokenizes with its vocabulary and generates tokens from random weights.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type * as NodeLlamaCpp from "node-llama-cpp";
import { createEngineRegistry } from "../platform/engines.ts";
import { readGgufInfo } from "./gguf.ts";
import { TINY_LLAMA, tinyVocab, writeTinyLlama } from "./gguf-writer.test-helper.ts";

const tmp = mkdtempSync(join(tmpdir(), "kiana-llama-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

test("node-llama-cpp loads the tiny llama and generates at least 3 tokens", async () => {
  const path = join(tmp, "tiny.gguf");
  writeTinyLlama(path, { seed: 3 });
  const ours = await readGgufInfo(path);
  const mod = (await createEngineRegistry().load("llama")) as typeof NodeLlamaCpp;
  const llama = await mod.getLlama({
    build: "never",
    gpu: false,
    progressLogs: false,
    logLevel: mod.LlamaLogLevel.error,
  });
  try {
    expect(llama.gpu).toBe(false);
    const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
    // llama.cpp's own reading of the header agrees with ours.
    expect(model.trainContextSize).toBe(TINY_LLAMA.context);
    expect(model.fileInsights.totalLayers).toBe(TINY_LLAMA.layers + 1);
    expect(String(model.fileInfo.metadata.general.architecture)).toBe(ours.architecture);
    expect(Number(model.tokens.bos)).toBe(1);
    expect(Number(model.tokens.eos)).toBe(2);
    // SPM: a known word maps to its own token, an unknown character falls back to byte tokens.
    const vocab = tinyVocab().tokens;
    const hello = model.tokenize("hello", false);
    expect(hello.map((t) => vocab[t])).toEqual(["▁hello"]);
    expect(model.tokenize("z", false).map((t) => vocab[t])).toEqual(["▁", "<0x7A>"]);

    const context = await model.createContext({ contextSize: TINY_LLAMA.context, threads: 1 });
    const completion = new mod.LlamaCompletion({ contextSequence: context.getSequence() });
    let generated = 0;
    const res = await completion.generateCompletionWithMeta("hello world", {
      maxTokens: 6,
      onToken: (tokens) => {
        generated += tokens.length;
      },
    });
    expect(generated).toBeGreaterThanOrEqual(3);
    expect(res.metadata.stopReason).toBe("maxTokens");
    await context.dispose();
    await model.dispose();
  } finally {
    await llama.dispose();
  }
}, 60_000);
