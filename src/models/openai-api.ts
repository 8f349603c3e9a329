// OpenAI-compatible HTTP surface (chat completions with SSE streaming, embeddings, the model list)
// as a framework-free handler: `handle(request)` answers /v1/* and returns undefined for anything else.
import { createHash, timingSafeEqual } from "node:crypto";
import { describeError, isKianaError } from "../errors.ts";
import type { ChatResult, ChatService } from "./chat.ts";
import type { ModelRef } from "./llama-engine.ts";
import type { EmbedFn } from "./onnx-sessions.ts";
import {
  ApiError,
  type Body,
  bad,
  embedInputs,
  fromProblem,
  KIANA_STATUS,
  messages,
  num,
  stops,
  str,
} from "./openai-request.ts";
import type { LocalState } from "./routing.ts";

export interface OpenAiApiOptions {
  /** The installed models (the registry's list); ids are what clients name in `model`. */
  models: () => readonly ModelRef[] | Promise<readonly ModelRef[]>;
  chat: Pick<ChatService, "start">;
  embed: EmbedFn;
  /** The token clients send as `Authorization: Bearer <token>`, or a check of it. */
  bearerToken: string | ((token: string) => boolean);
  /** Other credentials, given the whole `Authorization` header: a peer's signed token (peer-auth.ts). */
  peerAuth?: (authorization: string) => boolean;
  /**
   * Answers a chat or embedding request elsewhere (a stronger peer), told how this node stands with
   * the model; undefined lets this node answer, or refuse, as it would without.
   */
  route?: (model: string, body: Record<string, unknown>, ctx: RouteContext) => Promise<Response | undefined>;
  /** Milliseconds since the epoch; `created` fields are in seconds. */
  now?: () => number;
  newId?: () => string;
  /** Largest request body accepted. Default 4 MiB. */
  maxBodyBytes?: number;
  log?: { warn(obj: object, msg?: string): void };
}

const SSE_HEADERS = { "content-type": "text/event-stream", "cache-control": "no-cache" };
const json = (value: unknown, status = 200, headers: Record<string, string> = {}) =>
  Response.json(value, { status, headers });

export interface RouteContext {
  local: LocalState;
  /** The client's request, its body already read: headers (loop prevention), path, abort signal. */
  request: Request;
}

export interface OpenAiApi {
  handle(request: Request): Promise<Response | undefined>;
}

export function createOpenAiApi(opts: OpenAiApiOptions): OpenAiApi {
  const now = opts.now ?? Date.now;
  const newId = opts.newId ?? (() => crypto.randomUUID().replaceAll("-", ""));
  const maxBody = opts.maxBodyBytes ?? 4 * 2 ** 20;
  const digest = (s: string) => createHash("sha256").update(s).digest();

  function authorized(req: Request): boolean {
    const header = req.headers.get("authorization") ?? "";
    const token = /^Bearer +(\S+) *$/i.exec(header)?.[1];
    if (!token) return header !== "" && (opts.peerAuth?.(header) ?? false);
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

  /** Runs `answer` on the local model, unless `route` sends the request to a peer first or instead. */
  async function localOrRouted(
    req: Request,
    b: Body,
    id: string,
    answer: (ref: ModelRef) => Promise<Response>,
  ): Promise<Response> {
    const ref = (await opts.models()).find((m) => m.id === id);
    const routed = await opts.route?.(id, b, { local: ref ? "available" : "missing", request: req });
    if (routed) return routed;
    if (!ref) throw new ApiError(404, `the model '${id}' does not exist`, "model", "model_not_found");
    try {
      return await answer(ref);
    } catch (err) {
      // Refused before anything streamed: a board with more memory may still answer it.
      if (!opts.route || !isKianaError(err) || err.code !== "MODEL_DOES_NOT_FIT") throw err;
      const elsewhere = await opts.route(id, b, { local: "does-not-fit", request: req });
      if (elsewhere) return elsewhere;
      throw err;
    }
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
    return localOrRouted(req, b, id, async (ref) => {
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
    });
  }

  async function embeddings(req: Request): Promise<Response> {
    const b = await readBody(req);
    const id = str(b, "model");
    const inputs = embedInputs(b.input);
    const format = b.encoding_format ?? "float";
    if (format !== "float" && format !== "base64")
      throw bad("'encoding_format' must be float or base64", "encoding_format");
    const dimensions = num(b, "dimensions", 1, 2 ** 20, true);
    return localOrRouted(req, b, id, async (ref) => {
      const out = await opts.embed(ref, inputs);
      if (!out.ok) throw fromProblem(out);
      const width = out.vectors[0]?.length ?? 0;
      if (dimensions !== undefined && dimensions !== width)
        throw bad(`'${id}' has ${width} dimensions, not ${dimensions}`, "dimensions", "unsupported_value");
      const encode = (v: number[]) =>
        format === "base64" ? Buffer.from(Float32Array.from(v).buffer).toString("base64") : v;
      const data = out.vectors.map((v, index) => ({ object: "embedding", index, embedding: encode(v) }));
      const usage = { prompt_tokens: out.tokens, total_tokens: out.tokens };
      return json({ object: "list", data, model: id, usage });
    });
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
