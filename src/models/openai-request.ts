// Reading OpenAI-shaped requests: field checks that answer in OpenAI's error shape (status, param,
// code), shared by the chat and embedding endpoints of openai-api.ts.
import type { ChatMessage } from "./chat.ts";
import type { EmbedInput, InputProblem } from "./llama-engine.ts";

export class ApiError extends Error {
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

export type Body = Record<string, unknown>;
export const bad = (message: string, param: string | null, code = "invalid_value") =>
  new ApiError(400, message, param, code);
export const fromProblem = (p: InputProblem) => bad(p.message, p.param, p.code);

// Engine errors keep their code name; 503 where another board (or a later try) could serve it.
export const KIANA_STATUS: Record<string, [number, string]> = {
  MODEL_NOT_FOUND: [404, "model_not_found"],
  MODEL_DOES_NOT_FIT: [503, "model_does_not_fit"],
  ENGINE_MISSING: [503, "engine_unavailable"],
  ENGINE_LOAD_FAILED: [503, "engine_unavailable"],
  MODEL_FILE_INVALID: [500, "model_file_invalid"],
  MODEL_ENGINE_FAILED: [500, "model_engine_failed"],
};

export function num(b: Body, key: string, min: number, max: number, integer = false): number | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v) || (integer && !Number.isInteger(v)))
    throw bad(`'${key}' must be ${integer ? "an integer" : "a number"}`, key, "invalid_type");
  if (v < min || v > max) throw bad(`'${key}' must be between ${min} and ${max}`, key);
  return v;
}

export function str(b: Body, key: string): string {
  const v = b[key];
  if (v === undefined || v === null) throw bad(`'${key}' is required`, key, "missing_required_parameter");
  if (typeof v !== "string" || v === "")
    throw bad(`'${key}' must be a non-empty string`, key, "invalid_type");
  return v;
}

export function messages(v: unknown): ChatMessage[] {
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

export function stops(v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  const list = typeof v === "string" ? [v] : v;
  if (!Array.isArray(list) || list.length > 4 || !list.every((s) => typeof s === "string" && s !== ""))
    throw bad("'stop' must be a string or up to 4 non-empty strings", "stop", "invalid_type");
  return list;
}

/** string | string[] | number[] | number[][], as OpenAI accepts; at most 2048 inputs. */
export function embedInputs(v: unknown): EmbedInput[] {
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
