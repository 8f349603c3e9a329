// OpenAI-compatible HTTP surface (chat completions with SSE streaming, embeddings, the model list)
// as a framework-free handler: `handle(request)` answers /v1/* and returns undefined for anything else.
import { createHash, timingSafeEqual } from "node:crypto";
import { describeError, isKianaError } from "../errors.ts";
import type { ChatMessage, ChatResult, ChatService } from "./chat.ts";
import type { EmbedInput, InputProblem, ModelRef } from "./llama-engine.ts";
import type { EmbedFn } from "./onnx-sessions.ts";

export interface OpenAiApiOptions {
  /** The installed models (the registry's list); ids are what clients name in `model`. */
  models: () => readonly ModelRef[] | Promise<readonly ModelRef[]>;
  chat: Pick<ChatService, "start">;
  embed: EmbedFn;
  /** The token clients send as `Authorization: Bearer <token>`, or a check of it. */
  bearerToken: string | ((token: string) => boolean);
  /** Milliseconds since the epoch; `created` fields are in seconds. */
  now?: () => number;
  newId?: () => string;
  /** Largest request body accepted. Default 4 MiB. */
  maxBodyBytes?: number;
  log?: { warn(obj: object, msg?: string): void };
}

export interface OpenAiApi {
  handle(request: Request): Promise<Response | undefined>;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }
  body() {
    const type = this.status >= 500 ? "server_error" : "invalid_request_error";
    return { error: { message: this.message, type, param: this.param, code: this.code } };
  }
}

type Body = Record<string, unknown>;
const bad = (message: string, param: string | null, code = "invalid_value") =>
  new ApiError(400, message, param, code);
const fromProblem = (p: InputProblem) => bad(p.message, p.param, p.code);
const SSE_HEADERS = { "content-type": "text/event-stream", "cache-control": "no-cache" };
const json = (value: unknown, status = 200, headers: Record<string, string> = {}) =>
  Response.json(value, { status, headers });

// Engine errors keep their code name; 503 where another board (or a later try) could serve it.
const KIANA_STATUS: Record<string, [number, string]> = {
  MODEL_NOT_FOUND: [404, "model_not_found"],
  MODEL_DOES_NOT_FIT: [503, "model_does_not_fit"],
  ENGINE_MISSING: [503, "engine_unavailable"],
  ENGINE_LOAD_FAILED: [503, "engine_unavailable"],
  MODEL_FILE_INVALID: [500, "model_file_invalid"],
  MODEL_ENGINE_FAILED: [500, "model_engine_failed"],
};

function num(b: Body, key: string, min: number, max: number, integer = false): number | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v) || (integer && !Number.isInteger(v)))
    throw bad(`'${key}' must be ${integer ? "an integer" : "a number"}`, key, "invalid_type");
  if (v < min || v > max) throw bad(`'${key}' must be between ${min} and ${max}`, key);
  return v;
}

function str(b: Body, key: string): string {
  const v = b[key];
  if (v === undefined || v === null) throw bad(`'${key}' is required`, key, "missing_required_parameter");
  if (typeof v !== "string" || v === "")
    throw bad(`'${key}' must be a non-empty string`, key, "invalid_type");
  return v;
}

function messages(v: unknown): ChatMessage[] {
  if (v === undefined) throw bad("'messages' is required", "messages", "missing_required_parameter");
  if (!Array.isArray(v)) throw bad("'messages' must be an array", "messages", "invalid_type");
  if (v.length === 0) throw bad("'messages' must hold at least one message", "messages");
  return v.map((m: unknown, i) => {
    const at = `messages[${i}]`;
    if (typeof m !== "object" || m === null) throw bad(`'${at}' must be an object`, at, "invalid_type");
    const { role, content } = m as Body;
    if (role !== "system" && role !== "developer" && role !== "user" && role !== "assistant")
      throw bad(`'${at}.role' must be system, developer, user or assistant`, `${at}.role`);
    let text: string;
    if (typeof content === "string") text = content;
    else if (content === null && role === "assistant") text = "";
    else if (Array.isArray(content) && content.every((p) => p?.type === "text" && typeof p.text === "string"))
      text = content.map((p: { text: string }) => p.text).join("");
    else throw bad(`'${at}.content' must be a string or text parts`, `${at}.content`, "invalid_type");
    // An empty assistant turn is a real (if odd) reply; an empty question or instruction is a mistake.
    if (text === "" && role !== "assistant") throw bad(`'${at}.content' is empty`, `${at}.content`);
    return { role: role === "developer" ? "system" : role, content: text };
  });
}

function stops(v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  const list = typeof v === "string" ? [v] : v;
  if (!Array.isArray(list) || list.length > 4 || !list.every((s) => typeof s === "string" && s !== ""))
    throw bad("'stop' must be a string or up to 4 non-empty strings", "stop", "invalid_type");
  return list;
}

/** string | string[] | number[] | number[][], as OpenAI accepts; at most 2048 inputs. */
function embedInputs(v: unknown): EmbedInput[] {
  if (v === undefined) throw bad("'input' is required", "input", "missing_required_parameter");
  const isTokens = (x: unknown) => Array.isArray(x) && x.length > 0 && x.every((t) => typeof t === "number");
  let list: unknown[];
  if (typeof v === "string" || isTokens(v)) list = [v];
  else if (Array.isArray(v) && v.length > 0) list = v;
  else throw bad("'input' must be a string, strings, or token arrays", "input", "invalid_type");
  if (list.length > 2048) throw bad("'input' holds more than 2048 items", "input");
  list.forEach((x, i) => {
    if (x === "") throw bad(`'input[${i}]' is empty`, "input");
    if (typeof x !== "string" && !isTokens(x))
      throw bad(`'input[${i}]' has the wrong type`, "input", "invalid_type");
  });
  return list as EmbedInput[];
}

export function createOpenAiApi(opts: OpenAiApiOptions): OpenAiApi {
  const now = opts.now ?? Date.now;
  const newId = opts.newId ?? (() => crypto.randomUUID().replaceAll("-", ""));
  const maxBody = opts.maxBodyBytes ?? 4 * 2 ** 20;
  const digest = (s: string) => createHash("sha256").update(s).digest();

  function authorized(req: Request): boolean {
    const token = /^Bearer +(\S+) *$/i.exec(req.headers.get("authorization") ?? "")?.[1];
    if (!token) return false;
    const want = opts.bearerToken;
    if (typeof want === "function") return want(token);
    return want !== "" && timingSafeEqual(digest(token), digest(want));
  }

  async function readBody(req: Request): Promise<Body> {
    const tooLarge = new ApiError(413, `the body exceeds ${maxBody} bytes`, null, "request_too_large");
    if (Number(req.headers.get("content-length") ?? 0) > maxBody) throw tooLarge;
    const text = await req.text();
    if (text.length > maxBody) throw tooLarge;
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      throw bad("the request body is not valid JSON", null, "invalid_json");
    }
    if (typeof v !== "object" || v === null || Array.isArray(v))
      throw bad("the body must be a JSON object", null);
    return v as Body;
  }

  async function model(id: string): Promise<ModelRef> {
    const ref = (await opts.models()).find((m) => m.id === id);
    if (!ref) throw new ApiError(404, `the model '${id}' does not exist`, "model", "model_not_found");
    return ref;
  }

  const listed = (m: ModelRef) => ({ id: m.id, object: "model", created: 0, owned_by: "kiana" });

  async function chatCompletions(req: Request): Promise<Response> {
    const b = await readBody(req);
    const id = str(b, "model");
    const msgs = messages(b.messages);
    if ((num(b, "n", 1, 128, true) ?? 1) !== 1) throw bad("only n=1 is supported", "n", "unsupported_value");
    if (Array.isArray(b.tools) && b.tools.length > 0)
      throw bad("tools are not supported", "tools", "unsupported_parameter");
    if (b.stream !== undefined && b.stream !== null && typeof b.stream !== "boolean")
      throw bad("'stream' must be a boolean", "stream", "invalid_type");
    const opt = b.stream_options as Body | null | undefined;
    const includeUsage = typeof opt === "object" && opt !== null && opt.include_usage === true;
    const maxTokens =
      num(b, "max_completion_tokens", 1, 2 ** 31, true) ?? num(b, "max_tokens", 1, 2 ** 31, true);
    const params = {
      maxTokens,
      temperature: num(b, "temperature", 0, 2),
      topP: num(b, "top_p", 0, 1),
      seed: num(b, "seed", Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, true),
      stop: stops(b.stop),
    };
    const ref = await model(id);
    if (ref.kind !== "gguf")
      throw bad(`'${ref.id}' is an ONNX model and cannot chat`, "model", "model_not_supported");
    const abort = new AbortController();
    const signal = AbortSignal.any([req.signal, abort.signal]);
    const turn = await opts.chat.start({ model: ref, messages: msgs, ...params, signal });
    if (!turn.ok) throw fromProblem(turn);
    const head = { id: `chatcmpl-${newId()}`, created: Math.floor(now() / 1000), model: ref.id };
    const usage = (r: ChatResult) => ({
      prompt_tokens: r.promptTokens,
      completion_tokens: r.completionTokens,
      total_tokens: r.promptTokens + r.completionTokens,
      prompt_tokens_details: { cached_tokens: Math.max(0, r.promptTokens - r.evaluatedTokens) },
    });
    const finish = (r: ChatResult) => (r.finishReason === "length" ? "length" : "stop");
    if (b.stream !== true) {
      const r = await turn.result;
      const message = { role: "assistant", content: r.text, refusal: null };
      const choice = { index: 0, message, logprobs: null, finish_reason: finish(r) };
      return json({ ...head, object: "chat.completion", choices: [choice], usage: usage(r) });
    }
    const enc = new TextEncoder();
    const event = (v: unknown) => enc.encode(`data: ${JSON.stringify(v)}\n\n`);
    const chunk = (delta: object, finishReason: string | null) => ({
      ...head,
      object: "chat.completion.chunk",
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    });
    const deltas = turn[Symbol.asyncIterator]();
    const body = new ReadableStream<Uint8Array>({
      // The role chunk goes out with the headers, before the first token is even sampled.
      start: (c) => c.enqueue(event(chunk({ role: "assistant", content: "" }, null))),
      async pull(c) {
        try {
          const next = await deltas.next();
          if (!next.done) return c.enqueue(event(chunk({ content: next.value }, null)));
          const r = await turn.result;
          c.enqueue(event(chunk({}, finish(r))));
          if (includeUsage)
            c.enqueue(event({ ...head, object: "chat.completion.chunk", choices: [], usage: usage(r) }));
          c.enqueue(enc.encode("data: [DONE]\n\n"));
        } catch (err) {
          // Headers are gone already: the error travels as an event, in the same shape.
          c.enqueue(event(toApiError(err).body()));
        }
        c.close();
      },
      cancel: () => abort.abort(),
    });
    return new Response(body, { headers: SSE_HEADERS });
  }

  async function embeddings(req: Request): Promise<Response> {
    const b = await readBody(req);
    const id = str(b, "model");
    const inputs = embedInputs(b.input);
    const format = b.encoding_format ?? "float";
    if (format !== "float" && format !== "base64")
      throw bad("'encoding_format' must be float or base64", "encoding_format");
    const dimensions = num(b, "dimensions", 1, 2 ** 20, true);
    const out = await opts.embed(await model(id), inputs);
    if (!out.ok) throw fromProblem(out);
    const width = out.vectors[0]?.length ?? 0;
    if (dimensions !== undefined && dimensions !== width)
      throw bad(`'${id}' has ${width} dimensions, not ${dimensions}`, "dimensions", "unsupported_value");
    const encode = (v: number[]) =>
      format === "base64" ? Buffer.from(Float32Array.from(v).buffer).toString("base64") : v;
    const data = out.vectors.map((v, index) => ({ object: "embedding", index, embedding: encode(v) }));
    const usage = { prompt_tokens: out.tokens, total_tokens: out.tokens };
    return json({ object: "list", data, model: id, usage });
  }

  function toApiError(err: unknown): ApiError {
    if (err instanceof ApiError) return err;
    const mapped = isKianaError(err) ? KIANA_STATUS[err.code] : undefined;
    if (isKianaError(err) && mapped) return new ApiError(mapped[0], err.message, null, mapped[1]);
    opts.log?.warn({ err: describeError(err) }, "openai api: unexpected error");
    return new ApiError(500, "internal error", null, "internal_error");
  }

  async function route(req: Request, path: string): Promise<Response> {
    if (!authorized(req)) {
      const e = new ApiError(401, "a valid bearer token is required", null, "invalid_api_key");
      return json(e.body(), 401, { "www-authenticate": "Bearer" });
    }
    let run: [method: string, answer: () => Promise<Response>] | null = null;
    if (path === "/v1/chat/completions") run = ["POST", () => chatCompletions(req)];
    else if (path === "/v1/embeddings") run = ["POST", () => embeddings(req)];
    else if (path === "/v1/models")
      run = ["GET", async () => json({ object: "list", data: (await opts.models()).map(listed) })];
    else if (path.startsWith("/v1/models/"))
      run = ["GET", async () => json(listed(await model(decodeURIComponent(path.slice(11)))))];
    if (run && req.method !== run[0])
      throw new ApiError(405, `use ${run[0]} for ${path}`, null, "method_not_allowed");
    if (run) return run[1]();
    throw new ApiError(404, `no route for ${req.method} ${path}`, null, "not_found");
  }

  return {
    async handle(req) {
      const path = new URL(req.url).pathname;
      if (path !== "/v1" && !path.startsWith("/v1/")) return undefined;
      try {
        return await route(req, path);
      } catch (err) {
        const e = toApiError(err);
        return json(e.body(), e.status);
      }
    },
  };
}
