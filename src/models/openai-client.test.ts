// The official `openai` npm client against a Bun.serve on 127.0.0.1 that calls `handle`, over the real
// engines: llama.cpp chat and embeddings on the tiny GGUF, onnxruntime embeddings on the tiny ONNX.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type * as Ort from "onnxruntime-node";
import OpenAI from "openai";
import { createEngineRegistry } from "../platform/engines.ts";
import { readHardwareProfile } from "../platform/hardware-profile.ts";
import { createLlamaChat } from "./chat.ts";
import { TINY_LLAMA, writeTinyLlama } from "./gguf-writer.test-helper.ts";
import { createLlamaEngine, type LlamaModule, type ModelRef } from "./llama-engine.ts";
import { createOnnxSessions, embedWith } from "./onnx-sessions.ts";
import { tinyOnnxParams, tinyOnnxReference, writeTinyOnnx } from "./onnx-writer.test-helper.ts";
import { createOpenAiApi } from "./openai-api.ts";

const TOKEN = "client-test-token";
const tmp = mkdtempSync(join(tmpdir(), "kiana-openai-client-"));
const models: ModelRef[] = [
  { id: "tiny", name: "Tiny llama", path: join(tmp, "tiny.gguf"), kind: "gguf" },
  { id: "mlp", name: "MLP", path: join(tmp, "mlp.onnx"), kind: "onnx" },
  { id: "mlp2", name: "MLP 2", path: join(tmp, "mlp2.onnx"), kind: "onnx" },
];
const [tiny, mlp, mlp2] = models as [ModelRef, ModelRef, ModelRef];
const engines = createEngineRegistry();
const opened: Ort.InferenceSession[] = [];
const released: Ort.InferenceSession[] = [];
/** onnxruntime with its session factory recorded; the sessions themselves are real. */
async function recordingOnnx(): Promise<typeof Ort> {
  const ort = (await engines.load("onnxruntime")) as typeof Ort;
  const create = async (path: string, o: Ort.InferenceSession.SessionOptions) => {
    const s = await ort.InferenceSession.create(path, o);
    opened.push(s);
    const release = s.release.bind(s);
    return Object.assign(s, {
      release: () => {
        released.push(s);
        return release();
      },
    });
  };
  return { ...ort, InferenceSession: { create } } as unknown as typeof Ort;
}

let teardown: () => Promise<void> = async () => undefined;
let client: OpenAI;
let onnx: ReturnType<typeof createOnnxSessions>;

beforeAll(async () => {
  writeTinyLlama(tiny.path, { seed: 1 });
  writeTinyOnnx(mlp.path);
  writeTinyOnnx(mlp2.path);
  const x86 = await readHardwareProfile({
    root: join(import.meta.dir, "../platform/fixtures/x86-64-pc"),
    useSysteminformation: false,
  });
  const profile = { ...x86, cpu: { ...x86.cpu, cores: 2 } };
  const engine = createLlamaEngine({
    loadLlama: async () => (await engines.load("llama")) as LlamaModule,
    profile,
  });
  const chat = createLlamaChat({ engine });
  onnx = createOnnxSessions({ loadOnnx: recordingOnnx, profile, maxSessions: 1 });
  const api = createOpenAiApi({
    models: () => models,
    chat,
    embed: embedWith({ llama: engine, onnx }),
    bearerToken: TOKEN,
  });
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: async (r) => (await api.handle(r)) ?? new Response("not found", { status: 404 }),
  });
  client = new OpenAI({ baseURL: `http://127.0.0.1:${server.port}/v1`, apiKey: TOKEN, maxRetries: 0 });
  teardown = async () => {
    await server.stop(true);
    await chat.dispose();
    await onnx.dispose();
    await engine.dispose();
  };
});
afterAll(async () => {
  await teardown();
  rmSync(tmp, { recursive: true, force: true });
});

const ask = [
  { role: "system" as const, content: "you are kiana" },
  { role: "user" as const, content: "hello world" },
];

describe("chat through the official client", () => {
  test("a streaming completion arrives in chunks and matches the non-streaming one", async () => {
    const stream = await client.chat.completions.create({
      model: "tiny",
      messages: ask,
      max_tokens: 12,
      stream: true,
      stream_options: { include_usage: true },
    });
    const deltas: string[] = [];
    const finishes: (string | null)[] = [];
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      expect(chunk.object).toBe("chat.completion.chunk");
      const choice = chunk.choices[0];
      if (choice?.delta.content) deltas.push(choice.delta.content);
      if (choice) finishes.push(choice.finish_reason);
      usage ??= chunk.usage;
    }
    expect(deltas.length).toBeGreaterThan(1);
    expect(finishes.filter(Boolean)).toEqual(["length"]);
    expect(usage?.completion_tokens).toBe(12);

    const whole = await client.chat.completions.create({ model: "tiny", messages: ask, max_tokens: 12 });
    expect(whole.object).toBe("chat.completion");
    expect(whole.choices[0]?.message.content).toBe(deltas.join(""));
    expect(whole.choices[0]?.finish_reason).toBe("length");
    expect(whole.usage).toMatchObject({ prompt_tokens: usage?.prompt_tokens, completion_tokens: 12 });
  }, 60_000);

  test("a follow-up turn reports the reused prefix as cached prompt tokens", async () => {
    const first = await client.chat.completions.create({ model: "tiny", messages: ask, max_tokens: 4 });
    const reply = first.choices[0]?.message.content ?? "";
    const next = await client.chat.completions.create({
      model: "tiny",
      messages: [...ask, { role: "assistant", content: reply }, { role: "user", content: "the kiana" }],
      max_tokens: 4,
    });
    const cached = next.usage?.prompt_tokens_details?.cached_tokens ?? 0;
    expect(cached).toBeGreaterThanOrEqual(first.usage?.prompt_tokens ?? Number.POSITIVE_INFINITY);
  }, 60_000);

  test("errors arrive as the client's typed errors", async () => {
    const unknown = await client.chat.completions.create({ model: "nope", messages: ask }).catch((e) => e);
    expect(unknown).toBeInstanceOf(OpenAI.NotFoundError);
    expect(unknown).toMatchObject({ status: 404, code: "model_not_found", param: "model" });
    const long = await client.chat.completions
      .create({ model: "tiny", messages: ask, max_tokens: TINY_LLAMA.context })
      .catch((e) => e);
    expect(long).toBeInstanceOf(OpenAI.BadRequestError);
    expect(long).toMatchObject({ code: "context_length_exceeded", param: "max_tokens" });
    const stranger = new OpenAI({ baseURL: client.baseURL, apiKey: "wrong", maxRetries: 0 });
    expect(await stranger.models.list().catch((e) => e)).toBeInstanceOf(OpenAI.AuthenticationError);
  }, 60_000);

  test("models.list names every installed model", async () => {
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    expect(ids).toEqual(["tiny", "mlp", "mlp2"]);
  });
});

describe("embeddings through the official client", () => {
  test("the GGUF model's embedding context, base64 by default and as floats", async () => {
    const b64 = await client.embeddings.create({ model: "tiny", input: ["hello world", "kiana"] });
    const floats = await client.embeddings.create({
      model: "tiny",
      input: "hello world",
      encoding_format: "float",
    });
    expect(b64.data.map((d) => d.embedding.length)).toEqual([TINY_LLAMA.embd, TINY_LLAMA.embd]);
    expect(b64.data[0]?.embedding).toEqual(floats.data[0]?.embedding as number[]);
    expect(b64.data[1]?.embedding).not.toEqual(floats.data[0]?.embedding as number[]);
    expect(floats.usage.prompt_tokens).toBeGreaterThan(0);
  }, 60_000);

  test("an ONNX model embeds rows of numbers as Relu(X·W + B); text is refused", async () => {
    const x = [
      [1, -2, 0.5, 3],
      [-1, 0, 2, -0.5],
    ];
    const out = await client.embeddings.create({ model: "mlp", input: x, encoding_format: "float" });
    const want = tinyOnnxReference(tinyOnnxParams(), Float32Array.from(x.flat()));
    const got = out.data.flatMap((d) => d.embedding);
    expect(got.map((v) => v.toFixed(5))).toEqual(Array.from(want, (v) => v.toFixed(5)));
    const text = await client.embeddings.create({ model: "mlp", input: "hello" }).catch((e) => e);
    expect(text).toMatchObject({ status: 400, code: "invalid_input", param: "input" });
  });

  test("ONNX sessions: one per file, the least recently used released past the bound, after its last user", async () => {
    await onnx.use(mlp, async () => undefined);
    const before = opened.length;
    await onnx.use(mlp, async () => undefined);
    expect(opened.length).toBe(before);
    let inUse: Ort.InferenceSession | null = null;
    let finish: () => void = () => undefined;
    const busy = onnx.use(mlp2, async (s) => {
      inUse = s.session;
      await new Promise<void>((r) => {
        finish = r;
      });
    });
    await Bun.sleep(50);
    await onnx.use(mlp, async () => undefined);
    expect(onnx.paths()).toEqual([mlp.path]);
    expect(inUse).not.toBeNull();
    expect(released.includes(inUse as unknown as Ort.InferenceSession)).toBe(false);
    finish();
    await busy;
    await Bun.sleep(10);
    expect(released.includes(inUse as unknown as Ort.InferenceSession)).toBe(true);
  });
});
