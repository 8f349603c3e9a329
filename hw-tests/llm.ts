// LLM generation speed: kiana's OpenAI-compatible API (streaming, tokens between the first and the
// last) against llama.cpp's own llama-bench figure (tg) for the same GGUF file on the same board.
import { existsSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { basename } from "node:path";
import { type CheckResult, fail, pass, run } from "./result.ts";

export const MIN_RATIO = 0.8;

/** llama-bench -o json: the token-generation row's average tokens/s. */
export function parseLlamaBench(json: string): number | null {
  try {
    const rows = JSON.parse(json) as { n_prompt?: number; n_gen?: number; avg_ts?: number }[];
    const tg = rows.find((r) => (r.n_gen ?? 0) > 0 && (r.n_prompt ?? 0) === 0);
    return typeof tg?.avg_ts === "number" ? tg.avg_ts : null;
  } catch {
    return null;
  }
}

/** Tokens/s from the arrival times (ms) of streamed tokens: the prompt's time before the first is left out. */
export function streamRate(arrivals: readonly number[]): number | null {
  if (arrivals.length < 3) return null;
  const span = ((arrivals.at(-1) as number) - (arrivals[0] as number)) / 1000;
  return span > 0 ? (arrivals.length - 1) / span : null;
}

export interface LlmOptions {
  model?: string;
  /** The model's name in kiana's registry (default: the file name without .gguf). */
  name?: string;
  url?: string;
  tokens?: number;
}

async function kianaRate(o: Required<LlmOptions>, token: string): Promise<number | null> {
  const res = await fetch(new URL("/v1/chat/completions", o.url), {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({
      model: o.name,
      stream: true,
      max_tokens: o.tokens,
      temperature: 0,
      messages: [{ role: "user", content: "Count from one to two hundred in words." }],
    }),
  });
  if (!res.ok || !res.body)
    throw new Error(`POST /v1/chat/completions answered ${res.status}: ${await res.text()}`);
  const arrivals: number[] = [];
  const decoder = new TextDecoder();
  for await (const chunk of res.body) {
    for (const line of decoder.decode(chunk, { stream: true }).split("\n"))
      if (line.startsWith("data: {") && line.includes('"content"')) arrivals.push(performance.now());
  }
  return streamRate(arrivals);
}

export async function llmCheck(o: LlmOptions, env = process.env): Promise<CheckResult> {
  if (!o.model)
    return fail("llm", "no model given: hw-tests/run --model FILE.gguf (imported into kiana as well)");
  if (!existsSync(o.model)) return fail("llm", `${o.model} does not exist`);
  const bench = env.LLAMA_BENCH ?? (run(["sh", "-c", "command -v llama-bench"]).out.trim() || null);
  if (!bench) return fail("llm", "llama-bench not found (PATH or $LLAMA_BENCH): no reference figure");
  const full: Required<LlmOptions> = {
    model: o.model,
    name: o.name ?? basename(o.model).replace(/\.gguf$/i, ""),
    url: o.url ?? "http://127.0.0.1:8080",
    tokens: o.tokens ?? 64,
  };
  const threads = String(availableParallelism());
  const lb = run(
    [bench, "-m", full.model, "-p", "0", "-n", String(full.tokens), "-t", threads, "-o", "json"],
    600_000,
  );
  const reference = parseLlamaBench(lb.out);
  if (reference === null)
    return fail("llm", `llama-bench gave no figure (exit ${lb.code}): ${lb.err.trim().slice(-200)}`);
  const tokenFile = `${env.KIANA_DATA ?? "/var/lib/kiana"}/api-token`;
  const token = env.KIANA_API_TOKEN ?? (existsSync(tokenFile) ? readFileSync(tokenFile, "utf8").trim() : "");
  let rate: number | null;
  try {
    rate = await kianaRate(full, token);
  } catch (err) {
    return fail("llm", `kiana: ${(err as Error).message}`, { llamaBenchTokPerS: reference });
  }
  if (rate === null)
    return fail("llm", "kiana streamed fewer than 3 tokens", { llamaBenchTokPerS: reference });
  const ratio = rate / reference;
  const numbers = { kianaTokPerS: rate, llamaBenchTokPerS: reference, ratio, minRatio: MIN_RATIO };
  return ratio >= MIN_RATIO
    ? pass(
        "llm",
        `kiana generates at ${(ratio * 100).toFixed(0)}% of llama-bench for ${basename(full.model)}`,
        numbers,
      )
    : fail("llm", `kiana is slower than llama.cpp allows on this board`, numbers);
}
