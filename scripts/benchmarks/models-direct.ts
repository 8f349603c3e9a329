// Baseline child of scripts/benchmarks/models.ts: node-llama-cpp called directly, with none of kiana's
// engine, chat or HTTP layers, on the same model, context, threads and sampling. JSON lines out.
import { parseArgs } from "node:util";
import type * as NodeLlamaCpp from "node-llama-cpp";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    model: { type: "string" },
    context: { type: "string" },
    threads: { type: "string" },
    tokens: { type: "string", default: "128" },
    seed: { type: "string", default: "42" },
    system: { type: "string", default: "" },
  },
});
if (!values.model || !values.context || !values.threads) throw new Error("--model, --context and --threads");

interface Run {
  ttftMs: number;
  totalMs: number;
  tokens: number;
  text: string;
}

// Imported here, not at the top, so that the load time counts the import as kiana's engine loader does.
const t0 = performance.now();
const { getLlama, LlamaChat, LlamaLogLevel } = (await import("node-llama-cpp")) as typeof NodeLlamaCpp;
const llama = await getLlama({
  build: "never",
  gpu: false,
  progressLogs: false,
  logLevel: LlamaLogLevel.error,
});
const t1 = performance.now();
const model = await llama.loadModel({ modelPath: values.model, gpuLayers: 0, useMmap: true });
const t2 = performance.now();
const context = await model.createContext({
  contextSize: Number(values.context),
  threads: Number(values.threads),
});
const sequence = context.getSequence();
const chat = new LlamaChat({ contextSequence: sequence });

async function once(i: number): Promise<Run> {
  const before = sequence.tokenMeter.getState();
  const start = performance.now();
  let first = 0;
  const res: NodeLlamaCpp.LlamaChatResponse = await chat.generateResponse(
    [
      { type: "system", text: values.system ?? "" },
      { type: "user", text: `question ${i}: hello world` },
      { type: "model", response: [] },
    ],
    {
      maxTokens: Number(values.tokens),
      temperature: 0,
      seed: Number(values.seed),
      onTextChunk: () => {
        first ||= performance.now();
      },
    },
  );
  const end = performance.now();
  const tokens = sequence.tokenMeter.diff(before).usedOutputTokens;
  return { ttftMs: (first || end) - start, totalMs: end - start, tokens, text: res.response };
}

console.log(JSON.stringify({ importAndGetLlamaMs: t1 - t0, loadModelMs: t2 - t1 }));
// Then one run per stdin line (its question number), so the parent can interleave runs with the
// API's; the process holds the model until stdin closes, so its RSS can be read.
let pending = "";
for await (const bytes of Bun.stdin.stream()) {
  pending += new TextDecoder().decode(bytes);
  for (let nl = pending.indexOf("\n"); nl >= 0; nl = pending.indexOf("\n")) {
    const line = pending.slice(0, nl);
    pending = pending.slice(nl + 1);
    console.log(JSON.stringify(await once(Number(line))));
  }
}
await context.dispose();
await model.dispose();
await llama.dispose();
