// Model inference benchmark: streaming /v1/chat/completions (fetch to a Bun.serve child running `handle`)
// against node-llama-cpp called directly in a bare child, on the same GGUF. Usage: scripts/bench models
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createLlamaChat } from "../../src/models/chat.ts";
import { decideLoad } from "../../src/models/fit.ts";
import { readGgufInfo } from "../../src/models/gguf.ts";
import {
  type Kv,
  kv,
  seededRandom,
  type TensorSpec,
  tinyLlamaSpec,
  tinyVocab,
  writeGguf,
} from "../../src/models/gguf-writer.test-helper.ts";
import { createLlamaEngine, type LlamaModule, type ModelRef } from "../../src/models/llama-engine.ts";
import { createOpenAiApi } from "../../src/models/openai-api.ts";
import { createEngineRegistry } from "../../src/platform/engines.ts";
import { readHardwareProfile } from "../../src/platform/hardware-profile.ts";

const SYSTEM = "You are kiana, a helpful assistant that runs offline on a small board.";
const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    serve: { type: "string" },
    reps: { type: "string", default: "7" },
    warmup: { type: "string", default: "4" },
    tokens: { type: "string", default: "128" },
    layers: { type: "string", default: "6" },
    embd: { type: "string", default: "256" },
    seed: { type: "string", default: "42" },
  },
});

interface Run {
  ttftMs: number;
  totalMs: number;
  tokens: number;
  text: string;
}

/** The tiny fixture's vocabulary with a bigger body: `layers` blocks of width `embd`, F16 matrices. */
function writeBenchModel(path: string, layers: number, embd: number): void {
  const heads = 8;
  const kvHeads = 4;
  const ff = 3 * embd;
  const vocab = tinyVocab();
  const rand = seededRandom(7);
  const t = (name: string, dims: number[], type = "F16", fill?: number): TensorSpec => {
    const values = Array.from(
      { length: dims.reduce((a, b) => a * b, 1) },
      () => fill ?? (rand() * 2 - 1) * 0.08,
    );
    const data = type === "F16" ? new Float16Array(values) : new Float32Array(values);
    return { name, dims, type, data: new Uint8Array(data.buffer) };
  };
  const kvDim = (embd / heads) * kvHeads;
  const tensors = [t("token_embd.weight", [embd, vocab.tokens.length], "F32")];
  for (let i = 0; i < layers; i++) {
    const b = `blk.${i}`;
    tensors.push(t(`${b}.attn_norm.weight`, [embd], "F32", 1), t(`${b}.ffn_norm.weight`, [embd], "F32", 1));
    tensors.push(t(`${b}.attn_q.weight`, [embd, embd]), t(`${b}.attn_k.weight`, [embd, kvDim]));
    tensors.push(t(`${b}.attn_v.weight`, [embd, kvDim]), t(`${b}.attn_output.weight`, [embd, embd]));
    tensors.push(t(`${b}.ffn_gate.weight`, [embd, ff]), t(`${b}.ffn_up.weight`, [embd, ff]));
    tensors.push(t(`${b}.ffn_down.weight`, [ff, embd]));
  }
  tensors.push(
    t("output_norm.weight", [embd], "F32", 1),
    t("output.weight", [embd, vocab.tokens.length], "F32"),
  );
  // The tiny fixture's metadata (tokenizer included) with this model's shape.
  const shape: Record<string, number> = {
    "llama.context_length": 1024,
    "llama.embedding_length": embd,
    "llama.block_count": layers,
    "llama.feed_forward_length": ff,
    "llama.attention.head_count": heads,
    "llama.attention.head_count_kv": kvHeads,
    "llama.rope.dimension_count": embd / heads,
  };
  const kvs = tinyLlamaSpec().kvs.map(([k, v]): [string, Kv] => [k, k in shape ? kv.u32(shape[k] ?? 0) : v]);
  writeGguf(path, { version: 3, kvs, tensors });
}

/** Child mode: kiana's engine, chat and OpenAI handler behind Bun.serve, as a node would run them. */
async function serve(path: string): Promise<void> {
  const engines = createEngineRegistry();
  const profile = await readHardwareProfile();
  const engine = createLlamaEngine({
    loadLlama: async () => (await engines.load("llama")) as LlamaModule,
    profile,
  });
  const ref: ModelRef = { id: "bench", name: "bench", path, kind: "gguf" };
  const t0 = performance.now();
  const loaded = await engine.load(ref);
  const loadWallMs = performance.now() - t0;
  const chat = createLlamaChat({ engine });
  const embed = async () =>
    ({ ok: false, code: "unsupported_model", param: "model", message: "none" }) as const;
  const api = createOpenAiApi({ models: () => [ref], chat, embed, bearerToken: "bench" });
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: async (r) => (await api.handle(r)) ?? new Response("not found", { status: 404 }),
  });
  console.log(JSON.stringify({ port: server.port, loadWallMs, loadModelMs: loaded.loadMs }));
}

/** One streamed completion; the first content chunk is the first token a user would see. */
async function streamOnce(port: number, i: number, tokens: number, seed: number): Promise<Run> {
  const start = performance.now();
  const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: "Bearer bench", "content-type": "application/json" },
    body: JSON.stringify({
      model: "bench",
      messages: [
        { role: "system", content: SYSTEM },
        { role: "user", content: `question ${i}: hello world` },
      ],
      max_tokens: tokens,
      temperature: 0,
      seed,
      stream: true,
      stream_options: { include_usage: true },
    }),
  });
  if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  let first = 0;
  let text = "";
  let used = 0;
  let buffered = "";
  const decoder = new TextDecoder();
  for await (const bytes of res.body) {
    buffered += decoder.decode(bytes, { stream: true });
    const events = buffered.split("\n\n");
    buffered = events.pop() ?? "";
    for (const e of events) {
      const data = e.slice("data: ".length);
      if (data === "[DONE]") continue;
      const chunk = JSON.parse(data) as {
        choices: { delta: { content?: string } }[];
        usage?: { completion_tokens: number };
      };
      const content = chunk.choices[0]?.delta.content;
      if (content) {
        first ||= performance.now();
        text += content;
      }
      if (chunk.usage) used = chunk.usage.completion_tokens;
    }
  }
  const end = performance.now();
  return { ttftMs: (first || end) - start, totalMs: end - start, tokens: used, text };
}

/** A child's stdout as JSON lines, one at a time. */
function jsonLines(stdout: ReadableStream<Uint8Array>): () => Promise<unknown> {
  const reader = stdout.getReader();
  let pending = "";
  return async () => {
    for (;;) {
      const nl = pending.indexOf("\n");
      if (nl >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        return JSON.parse(line);
      }
      const { value, done } = await reader.read();
      if (done) throw new Error("the child exited early");
      pending += new TextDecoder().decode(value);
    }
  };
}

const memMb = (pid: number, field: "VmRSS" | "VmHWM") =>
  Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]) /
  1024;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] ?? Number.NaN) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
};
const tps = (r: Run) => r.tokens / (r.totalMs / 1000);

async function main(): Promise<void> {
  const reps = Math.max(1, Number(values.reps));
  const warmup = Math.max(0, Number(values.warmup));
  const tokens = Number(values.tokens);
  const seed = Number(values.seed);
  const dir = mkdtempSync(join(tmpdir(), "kiana-bench-models-"));
  const path = join(dir, "bench.gguf");
  writeBenchModel(path, Number(values.layers), Number(values.embd));
  // The same plan the engine makes, so the direct child gets the same context and threads.
  const plan = decideLoad({ profile: await readHardwareProfile(), model: await readGgufInfo(path) });
  if (!plan.ok || plan.engine !== "llama.cpp")
    throw new Error("the benchmark model does not fit this machine");
  const env = { ...process.env };
  try {
    const spawn = (args: string[]) =>
      Bun.spawn([process.execPath, ...args], { stdin: "pipe", stdout: "pipe", stderr: "inherit", env });
    // One child loads after the other; then their runs alternate, so drift in machine load hits both.
    const api = spawn([import.meta.path, "--serve", path]);
    const apiOut = jsonLines(api.stdout);
    const served = (await apiOut()) as { port: number; loadWallMs: number; loadModelMs: number };
    const args = ["--model", path, "--context", String(plan.contextSize), "--threads", String(plan.threads)];
    args.push("--tokens", String(tokens), "--seed", String(seed), "--system", SYSTEM);
    const direct = spawn([join(import.meta.dir, "models-direct.ts"), ...args]);
    const directOut = jsonLines(direct.stdout);
    const base = (await directOut()) as { importAndGetLlamaMs: number; loadModelMs: number };
    const directRun = async (i: number) => {
      direct.stdin.write(`${i}\n`);
      direct.stdin.flush();
      return (await directOut()) as Run;
    };
    const apiRuns: Run[] = [];
    const directRuns: Run[] = [];
    for (let i = 0; i < warmup + reps; i++) {
      const pair =
        i % 2
          ? [await directRun(i), await streamOnce(served.port, i, tokens, seed)].reverse()
          : [await streamOnce(served.port, i, tokens, seed), await directRun(i)];
      if (i < warmup) continue;
      apiRuns.push(pair[0] as Run);
      directRuns.push(pair[1] as Run);
    }
    const apiRss = { rss: memMb(api.pid, "VmRSS"), peak: memMb(api.pid, "VmHWM") };
    const directRss = { rss: memMb(direct.pid, "VmRSS"), peak: memMb(direct.pid, "VmHWM") };
    api.kill();
    direct.stdin.end();
    await Promise.all([api.exited, direct.exited]);

    const sameText = apiRuns.every((r, i) => r.text === directRuns[i]?.text);
    const a = { tps: median(apiRuns.map(tps)), ttft: median(apiRuns.map((r) => r.ttftMs)) };
    const d = { tps: median(directRuns.map(tps)), ttft: median(directRuns.map((r) => r.ttftMs)) };
    // Ratios within each adjacent pair of runs, so that drift in the machine's load cancels out.
    const paired = (f: (x: Run, y: Run) => number) => median(apiRuns.map((r, i) => f(r, directRuns[i] ?? r)));
    const tpsRatio = paired((x, y) => tps(x) / tps(y));
    const ttftAdded = paired((x, y) => x.ttftMs - y.ttftMs);
    const directLoad = base.importAndGetLlamaMs + base.loadModelMs;
    const diff = (x: number, y: number, unit: string) => `${x >= y ? "+" : ""}${(x - y).toFixed(1)} ${unit}`;
    const row = (label: string, x: number, y: number, vs: string, goal = "") =>
      [label, x.toFixed(1), y.toFixed(1), vs, goal].join(" | ");
    const rows = [
      row("tokens/s, end to end (median)", a.tps, d.tps, `${tpsRatio.toFixed(3)}x (paired)`, ">= 0.95x"),
      row("time to first token (median ms)", a.ttft, d.ttft, diff(ttftAdded, 0, "ms (paired)"), "<= +20 ms"),
      row(
        "loadModel (ms)",
        served.loadModelMs,
        base.loadModelMs,
        diff(served.loadModelMs, base.loadModelMs, "ms"),
      ),
      row("load from import (ms)", served.loadWallMs, directLoad, diff(served.loadWallMs, directLoad, "ms")),
      row("RSS after the runs (MB)", apiRss.rss, directRss.rss, diff(apiRss.rss, directRss.rss, "MB")),
      row("peak RSS (MB)", apiRss.peak, directRss.peak, diff(apiRss.peak, directRss.peak, "MB")),
    ];
    console.log(
      `\nmodels benchmark: ${values.layers} layers × ${values.embd}, ${tokens} tokens greedy, ${reps} runs after ${warmup} warm-up, ` +
        `context ${plan.contextSize}, ${plan.threads} threads, linux-${process.arch}, bun ${Bun.version}; same text: ${sameText}\n`,
    );
    console.log("| metric | API (/v1, SSE) | direct | API vs direct | goal |\n|---|---|---|---|---|");
    for (const r of rows) console.log(`| ${r} |`);
    const tokensPerRun = { api: apiRuns.map((r) => r.tokens), direct: directRuns.map((r) => r.tokens) };
    console.log(
      `\n${JSON.stringify({ tpsRatio, ttftAdded, api: { ...a, ...served, ...apiRss }, direct: { ...d, ...base, ...directRss }, tokensPerRun, sameText })}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (values.serve) await serve(values.serve);
else await main();
