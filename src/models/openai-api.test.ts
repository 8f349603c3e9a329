// The OpenAI-compatible handler through `handle(new Request(...))`: every bad input answers in
// OpenAI's error shape with its status. A scripted chat and embedder stand in for the engines, which
// openai-client.test.ts drives for real.
import { describe, expect, test } from "bun:test";
import { kianaError } from "../errors.ts";
import type { ChatRequest, ChatService } from "./chat.ts";
import type { ModelRef } from "./llama-engine.ts";
import type { EmbedFn } from "./onnx-sessions.ts";
import { createOpenAiApi, type OpenAiApiOptions } from "./openai-api.ts";

const TOKEN = "test-token";
const models: ModelRef[] = [
  { id: "tiny", name: "Tiny", path: "/models/tiny.gguf", kind: "gguf" },
  { id: "mlp", name: "MLP", path: "/models/mlp.onnx", kind: "onnx" },
];

/** Replies "Hello" in two deltas; the last user message scripts failures. */
const requests: ChatRequest[] = [];
let release: () => void = () => undefined;
const chat: Pick<ChatService, "start"> = {
  async start(req) {
    requests.push(req);
    const said = req.messages.at(-1)?.content ?? "";
    if (said === "too long")
      return { ok: false, code: "context_length_exceeded", param: "messages", message: "5000 > 256" };
    if (said === "broken") throw kianaError("MODEL_ENGINE_FAILED", "llama.cpp failed to generate");
    if (said === "huge") throw kianaError("MODEL_DOES_NOT_FIT", "needs 40 GiB but the budget is 7 GiB");
    if (said === "bug") throw new TypeError("x is undefined");
    const gate = said === "slow" ? new Promise<void>((r) => (release = r)) : Promise.resolve();
    async function* deltas() {
      await gate;
      if (said === "mid-fail") throw kianaError("MODEL_ENGINE_FAILED", "decode failed");
      yield "Hel";
      yield "lo";
    }
    const tokens = { promptTokens: 9, completionTokens: 2, evaluatedTokens: 4 };
    const result = gate.then(() => ({ text: "Hello", finishReason: "stop" as const, ...tokens }));
    return { ok: true, promptTokens: 9, result, [Symbol.asyncIterator]: deltas };
  },
};
const vectors = (inputs: readonly unknown[]) => inputs.map((_, i) => [i, 0.5, -1]);
const embed: EmbedFn = async (_ref, inputs) => ({ ok: true, vectors: vectors(inputs), tokens: 7 });
const warnings: object[] = [];
const log = { warn: (x: object) => warnings.push(x) };
const fixed = { now: () => 1_700_000_000_123, newId: () => "abc", log };
const api = (o: Partial<OpenAiApiOptions> = {}) =>
  createOpenAiApi({ models: () => models, chat, embed, bearerToken: TOKEN, ...fixed, ...o });
const req = (path: string, body?: unknown, init: RequestInit = {}) =>
  new Request(`http://kiana.local${path}`, {
    method: body === undefined ? "GET" : "POST",
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    ...init,
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", ...init.headers },
  });
const handle = async (r: Request, o?: Partial<OpenAiApiOptions>) => {
  const res = await api(o).handle(r);
  if (!res) throw new Error("not handled");
  return res;
};
async function errorOf(res: Response) {
  const body = (await res.json()) as { error: Record<string, unknown> };
  expect(Object.keys(body.error).sort()).toEqual(["code", "message", "param", "type"]);
  return { status: res.status, ...body.error };
}
const hi = [{ role: "user", content: "hi" }];
const streamed = (content: string, extra: object = {}) =>
  req("/v1/chat/completions", {
    model: "tiny",
    messages: [{ role: "user", content }],
    stream: true,
    ...extra,
  });
const jsonOf = async <T>(r: Request) => (await (await handle(r)).json()) as T;
const chatBody = (extra: object = {}) => ({ model: "tiny", messages: hi, ...extra });

describe("errors, in OpenAI's shape", () => {
  test("no or a wrong bearer token is 401 with a Bearer challenge", async () => {
    for (const authorization of ["", "Bearer nope", `Basic ${TOKEN}`]) {
      const res = await handle(req("/v1/models", undefined, { headers: { authorization } }));
      expect(res.headers.get("www-authenticate")).toBe("Bearer");
      const e = await errorOf(res);
      expect(e).toMatchObject({ status: 401, type: "invalid_request_error", code: "invalid_api_key" });
    }
  });

  const U = (content: unknown) => ({ messages: [{ role: "user", content }] });
  test.each([
    ["invalid JSON", "{nope", 400, null, "invalid_json"],
    ["a JSON array", "[1]", 400, null, "invalid_value"],
    ["no model", { messages: [] }, 400, "model", "missing_required_parameter"],
    ["a numeric model", chatBody({ model: 7 }), 400, "model", "invalid_type"],
    ["an unknown model", chatBody({ model: "gpt-9" }), 404, "model", "model_not_found"],
    ["no messages", { model: "tiny" }, 400, "messages", "missing_required_parameter"],
    ["messages not an array", chatBody({ messages: "hi" }), 400, "messages", "invalid_type"],
    ["no message at all", chatBody({ messages: [] }), 400, "messages", "invalid_value"],
    [
      "an unknown role",
      chatBody({ messages: [{ role: "tool", content: "x" }] }),
      400,
      "messages[0].role",
      "invalid_value",
    ],
    ["empty content", chatBody(U("")), 400, "messages[0].content", "invalid_value"],
    ["numeric content", chatBody(U(5)), 400, "messages[0].content", "invalid_type"],
    [
      "an image part",
      chatBody(U([{ type: "image_url", image_url: { url: "x" } }])),
      400,
      "messages[0].content",
      "invalid_type",
    ],
    ["n=2", chatBody({ n: 2 }), 400, "n", "unsupported_value"],
    ["a string temperature", chatBody({ temperature: "hot" }), 400, "temperature", "invalid_type"],
    ["temperature 3", chatBody({ temperature: 3 }), 400, "temperature", "invalid_value"],
    ["max_tokens 0", chatBody({ max_tokens: 0 }), 400, "max_tokens", "invalid_value"],
    ["fractional max_tokens", chatBody({ max_tokens: 1.5 }), 400, "max_tokens", "invalid_type"],
    ["five stop strings", chatBody({ stop: ["a", "b", "c", "d", "e"] }), 400, "stop", "invalid_type"],
    ["a string stream flag", chatBody({ stream: "yes" }), 400, "stream", "invalid_type"],
    ["tools", chatBody({ tools: [{ type: "function" }] }), 400, "tools", "unsupported_parameter"],
    ["an ONNX model", chatBody({ model: "mlp" }), 400, "model", "model_not_supported"],
    ["too many tokens", chatBody(U("too long")), 400, "messages", "context_length_exceeded"],
    ["an engine failure", chatBody(U("broken")), 500, null, "model_engine_failed"],
    ["a model too big for the board", chatBody(U("huge")), 503, null, "model_does_not_fit"],
    ["an unexpected throw", chatBody(U("bug")), 500, null, "internal_error"],
  ])("chat with %s", async (_name, body, status, param, code) => {
    const e = await errorOf(await handle(req("/v1/chat/completions", body)));
    expect(e).toMatchObject({
      status,
      param,
      code,
      type: status >= 500 ? "server_error" : "invalid_request_error",
    });
  });

  test.each([
    ["no input", { model: "tiny" }, 400, "input", "missing_required_parameter"],
    ["an object input", { model: "tiny", input: {} }, 400, "input", "invalid_type"],
    ["an empty string", { model: "tiny", input: ["a", ""] }, 400, "input", "invalid_value"],
    ["mixed input", { model: "tiny", input: ["a", 1] }, 400, "input", "invalid_type"],
    [
      "hex encoding",
      { model: "tiny", input: "a", encoding_format: "hex" },
      400,
      "encoding_format",
      "invalid_value",
    ],
    [
      "other dimensions",
      { model: "tiny", input: "a", dimensions: 8 },
      400,
      "dimensions",
      "unsupported_value",
    ],
    ["an unknown model", { model: "nope", input: "a" }, 404, "model", "model_not_found"],
  ])("embeddings with %s", async (_name, body, status, param, code) => {
    expect(await errorOf(await handle(req("/v1/embeddings", body)))).toMatchObject({ status, param, code });
  });

  test("oversized bodies, wrong methods and unknown /v1 paths; other paths are not ours", async () => {
    const big = await handle(req("/v1/chat/completions", "x".repeat(2000)), { maxBodyBytes: 1000 });
    expect(await errorOf(big)).toMatchObject({ status: 413, code: "request_too_large" });
    expect(await errorOf(await handle(req("/v1/chat/completions")))).toMatchObject({ status: 405 });
    expect(await errorOf(await handle(req("/v1/files")))).toMatchObject({ status: 404, code: "not_found" });
    expect(await api().handle(req("/api/v1/status"))).toBeUndefined();
  });
});

describe("answers", () => {
  test("a non-streaming completion in OpenAI's shape, with the request's options passed on", async () => {
    const body = chatBody({
      messages: [
        { role: "developer", content: "be brief" },
        { role: "user", content: [{ type: "text", text: "hi" }] },
      ],
      max_completion_tokens: 7,
      max_tokens: 99,
      temperature: 0.5,
      top_p: 0.9,
      stop: "\n",
      seed: 3,
    });
    const res = await handle(req("/v1/chat/completions", body));
    const choice = { index: 0, message: { role: "assistant", content: "Hello", refusal: null } };
    expect(await res.json()).toEqual({
      ...{ id: "chatcmpl-abc", object: "chat.completion", created: 1_700_000_000, model: "tiny" },
      choices: [{ ...choice, logprobs: null, finish_reason: "stop" }],
      usage: {
        prompt_tokens: 9,
        completion_tokens: 2,
        total_tokens: 11,
        prompt_tokens_details: { cached_tokens: 5 },
      },
    });
    expect(requests.at(-1)).toMatchObject({
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: "hi" },
      ],
      maxTokens: 7,
      temperature: 0.5,
      topP: 0.9,
      stop: ["\n"],
      seed: 3,
    });
  });

  const events = async (res: Response) =>
    (await res.text())
      .split("\n\n")
      .filter(Boolean)
      .map((e) => e.replace(/^data: /, ""))
      .map((d) => (d === "[DONE]" ? d : JSON.parse(d)));

  test("streaming: role chunk, deltas, finish, usage when asked, then [DONE]", async () => {
    const res = await handle(streamed("hi", { stream_options: { include_usage: true } }));
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const ev = await events(res);
    expect(ev.map((e) => (e === "[DONE]" ? e : (e.choices[0]?.delta ?? "usage")))).toEqual([
      { role: "assistant", content: "" },
      { content: "Hel" },
      { content: "lo" },
      {},
      "usage",
      "[DONE]",
    ]);
    expect(ev[0]).toMatchObject({
      id: "chatcmpl-abc",
      object: "chat.completion.chunk",
      created: 1_700_000_000,
      model: "tiny",
    });
    const finishes = ev.map((e) => e.choices?.[0]?.finish_reason);
    expect(finishes).toEqual([null, null, null, "stop", undefined, undefined]);
    expect(ev[4]).toMatchObject({ choices: [], usage: { total_tokens: 11 } });
  });

  test("the headers and the role chunk leave before the first token exists", async () => {
    const res = await handle(streamed("slow"));
    const reader = res.body?.getReader();
    const first = new TextDecoder().decode((await reader?.read())?.value);
    expect(first).toContain('"delta":{"role":"assistant","content":""}');
    release();
    let rest = "";
    for (let r = await reader?.read(); r && !r.done; r = await reader?.read())
      rest += new TextDecoder().decode(r.value);
    expect(rest).toContain('"content":"Hel"');
  });

  test("a failure after the headers arrives as an error event, and a disconnect aborts generation", async () => {
    const failed = await events(await handle(streamed("mid-fail")));
    expect(failed.at(-1)).toEqual({
      error: { message: "decode failed", type: "server_error", param: null, code: "model_engine_failed" },
    });
    const res = await handle(streamed("slow"));
    await res.body?.cancel();
    expect(requests.at(-1)?.signal?.aborted).toBe(true);
  });

  test("models: the list and one model", async () => {
    expect(await (await handle(req("/v1/models"))).json()).toEqual({
      object: "list",
      data: models.map((m) => ({ id: m.id, object: "model", created: 0, owned_by: "kiana" })),
    });
    expect(await (await handle(req("/v1/models/mlp"))).json()).toMatchObject({ id: "mlp", object: "model" });
    expect(await errorOf(await handle(req("/v1/models/nope")))).toMatchObject({
      status: 404,
      code: "model_not_found",
    });
  });

  test("embeddings as floats or as base64 little-endian float32", async () => {
    type Data<T> = { data: { embedding: T }[] };
    const floats = await jsonOf<Data<number[]>>(req("/v1/embeddings", { model: "tiny", input: ["a", "b"] }));
    expect(floats).toMatchObject({
      object: "list",
      model: "tiny",
      usage: { prompt_tokens: 7, total_tokens: 7 },
    });
    expect(floats.data.map((d) => d.embedding)).toEqual([
      [0, 0.5, -1],
      [1, 0.5, -1],
    ]);
    const b64 = await jsonOf<Data<string>>(
      req("/v1/embeddings", { model: "tiny", input: "a", encoding_format: "base64" }),
    );
    const bytes = Buffer.from(b64.data[0]?.embedding ?? "", "base64");
    expect(Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, 3))).toEqual([0, 0.5, -1]);
  });
});
