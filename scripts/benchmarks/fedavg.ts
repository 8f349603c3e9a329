// FedAvg benchmark: (1) peak RSS of aggregating K client updates of P weights, streaming (running
// sums, updates read as 64 KiB pieces) against a naive average that holds every update, each in its
// own child process for a clean RSS; (2) aggregation throughput; (3) bytes per client per round,
// float32 vs int8; (4) wake-verifier accuracy, federated (5 households, in-memory bus) vs central.
// Usage: bun scripts/benchmarks/fedavg.ts [--k 100] [--p 5000000] [--skip-accuracy]
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { createAggregator } from "../../src/fedavg/aggregator.ts";
import { encodedBytes, encodeHeader, type UpdateSource } from "../../src/fedavg/update-codec.ts";

const { values: args } = parseArgs({
  options: {
    k: { type: "string", default: process.env.BENCH_K ?? "100" },
    p: { type: "string", default: process.env.BENCH_P ?? "5000000" },
    child: { type: "string" },
    "skip-accuracy": { type: "boolean", default: false },
  },
});
const K = Number(args.k);
const P = Number(args.p);
const PIECE = 64 * 1024;
/** One piece buffer for all generated streams: the reader copies each piece before asking for the next. */
const pieceValues = new Float32Array(PIECE / 4);

/** Resident and peak-resident kB of this process (Linux /proc). */
function memKb(): { rss: number; hwm: number } {
  const s = readFileSync("/proc/self/status", "utf8");
  const get = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0);
  return { rss: get("VmRSS"), hwm: get("VmHWM") };
}

/** Client k's update as a re-readable stream generated piece by piece: no client holds it whole here. */
function updateStream(k: number, params = P): UpdateSource {
  const header = {
    encoding: "float32" as const,
    round: 1,
    modelVersion: 0,
    params,
    examples: 1 + (k % 50),
    chunk: 0,
    evalCount: 0,
    evalCorrect: 0,
  };
  return {
    byteLength: encodedBytes(header),
    async *chunks() {
      yield encodeHeader(header);
      const vals = pieceValues;
      let s = (k * 2654435761) >>> 0;
      for (let at = 0; at < params; at += vals.length) {
        const n = Math.min(vals.length, params - at);
        for (let i = 0; i < n; i++) {
          s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
          vals[i] = s / 2 ** 32 - 0.5;
        }
        yield new Uint8Array(vals.buffer, 0, n * 4);
      }
    },
  };
}

async function child(mode: string): Promise<void> {
  // Idle means ready to aggregate: code loaded and compiled by a tiny warm-up round first.
  const warm = createAggregator({
    round: 1,
    modelVersion: 0,
    params: 1000,
    encodings: ["float32"],
    maxExamples: 1000,
    maxBytes: 1e12,
  });
  for (const k of [0, 1]) await warm.add(`warm${k}`, updateStream(k, 1000));
  Bun.gc(true);
  const idle = memKb().rss;
  const start = performance.now();
  let check = 0;
  if (mode === "streaming") {
    const agg = createAggregator({
      round: 1,
      modelVersion: 0,
      params: P,
      encodings: ["float32"],
      maxExamples: 1000,
      maxBytes: encodedBytes({ encoding: "float32", params: P, chunk: 0 }),
    });
    for (let k = 0; k < K; k++) {
      const res = await agg.add(`c${k}`, updateStream(k));
      if (!res.ok) throw new Error(res.reason);
    }
    check = agg.result().mean[P - 1] ?? 0;
  } else {
    // The naive coordinator: decode every update into its own array, then average them all at the end.
    const updates: { v: Float32Array; n: number }[] = [];
    for (let k = 0; k < K; k++) {
      const src = updateStream(k);
      const v = new Float32Array(P);
      const bytes = new Uint8Array(v.buffer);
      let at = -40;
      for await (const c of (src as { chunks(): AsyncIterable<Uint8Array> }).chunks()) {
        if (at >= 0) bytes.set(c, at);
        at += c.length;
      }
      updates.push({ v, n: 1 + (k % 50) });
    }
    const sums = new Float64Array(P);
    let w = 0;
    for (const { v, n } of updates) {
      w += n;
      for (let i = 0; i < P; i++) sums[i] = (sums[i] ?? 0) + n * (v[i] ?? 0);
    }
    check = (sums[P - 1] ?? 0) / w;
  }
  const seconds = (performance.now() - start) / 1000;
  console.log(JSON.stringify({ mode, idleKb: idle, peakKb: memKb().hwm, seconds, check }));
}

async function measure(mode: string) {
  const proc = Bun.spawn(
    [process.execPath, import.meta.path, "--child", mode, "--k", String(K), "--p", String(P)],
    { stdout: "pipe", stderr: "inherit" },
  );
  const out = await new Response(proc.stdout).text();
  if ((await proc.exited) !== 0) throw new Error(`${mode} child failed`);
  return JSON.parse(out.trim().split("\n").at(-1) as string) as {
    idleKb: number;
    peakKb: number;
    seconds: number;
    check: number;
  };
}

async function main() {
  const mb = (kb: number) => (kb / 1024).toFixed(0);
  const updateMb = (K * encodedBytes({ encoding: "float32", params: P, chunk: 0 })) / 2 ** 20;
  const goalKb = (3 * P * 4) / 1024;
  console.log(`FedAvg aggregation of K=${K} updates of P=${P} float32 weights (child process each)`);
  const streaming = await measure("streaming");
  const naive = await measure("naive");
  if (Math.abs(streaming.check - naive.check) > 1e-5) throw new Error("streaming and naive means differ");
  console.log("| aggregator | peak RSS above idle (MB) | goal ≤ 3·P·4 (MB) | time (s) | throughput (MB/s) |");
  console.log("|---|---:|---:|---:|---:|");
  for (const [name, r] of [
    ["streaming", streaming],
    ["naive (all updates held)", naive],
  ] as const)
    console.log(
      `| ${name} | ${mb(r.peakKb - r.idleKb)} | ${mb(goalKb)} | ${r.seconds.toFixed(1)} | ${(updateMb / r.seconds).toFixed(0)} |`,
    );
  const streamingOk = streaming.peakKb - streaming.idleKb <= goalKb;
  console.log(
    `streaming within goal: ${streamingOk ? "yes" : "NO"}; naive / streaming memory: ${((naive.peakKb - naive.idleKb) / (streaming.peakKb - streaming.idleKb)).toFixed(1)}×`,
  );
  console.log("(throughput counts each update's bytes once; streaming reads each twice: validate, then add)");

  console.log("\nBytes per client per round");
  console.log("| model | weights | float32 | int8 (chunk 256) | float32 / int8 |");
  console.log("|---|---:|---:|---:|---:|");
  for (const [name, params] of [
    ["wake verifier (16×96 logistic)", 1537],
    [`benchmark (P=${P})`, P],
  ] as const) {
    const f = encodedBytes({ encoding: "float32", params, chunk: 0 });
    const q = encodedBytes({ encoding: "int8", params, chunk: 256 });
    console.log(`| ${name} | ${params} | ${f} | ${q} | ${(f / q).toFixed(2)}× |`);
  }
  if (!args["skip-accuracy"]) await accuracy();
}

async function accuracy() {
  const { WAKE_FEATURES, wakeFeatures } = await import("../../src/fedavg/features.ts");
  const { createFederation, settingsFor } = await import("../../src/fedavg/federation.test-helper.ts");
  const { buildWakeDataset, HOUSEHOLDS } = await import("../../src/fedavg/wake-dataset.test-helper.ts");
  const { initParams } = await import("../../src/fedavg/model.ts");
  const { createRng } = await import("../../src/fedavg/rng.ts");
  const { evaluate, train } = await import("../../src/fedavg/trainer.ts");
  const data = await buildWakeDataset();
  const ex = (e: (typeof data)[number]) => ({ x: wakeFeatures(e.window), y: e.label });
  const households = Array.from({ length: HOUSEHOLDS }, (_, h) =>
    data.filter((e) => e.household === h).map(ex),
  );
  const test = data.filter((e) => e.household < 0).map(ex);
  const spec = { kind: "logistic" as const, inputs: WAKE_FEATURES, hidden: 0 };
  console.log(
    `\nWake verifier accuracy on ${test.length} held-out clips (5 non-IID households, ${households.flat().length} training clips)`,
  );
  console.log("| training | encoding | rounds | accuracy (%) |");
  console.log("|---|---|---:|---:|");
  const central = train(spec, initParams(spec, createRng(1)), households.flat(), {
    ...settingsFor(spec),
    epochs: 10,
    seed: 1,
  });
  console.log(
    `| central (union of data) | – | – | ${(evaluate(spec, central, test).accuracy * 100).toFixed(1)} |`,
  );
  for (const [encoding, secure] of [
    ["int8", false],
    ["float32", false],
    ["float32", true],
  ] as const) {
    const fed = await createFederation({ spec, households });
    for (let r = 0; r < 12; r++) await fed.round({ encoding, secure });
    const label = secure ? "masked (secure agg.)" : encoding;
    console.log(
      `| federated | ${label} | 12 | ${(evaluate(spec, fed.global(), test).accuracy * 100).toFixed(1)} |`,
    );
    fed.stop();
  }
  const local = households.map(
    (h) =>
      evaluate(
        spec,
        train(spec, initParams(spec, createRng(1)), h, { ...settingsFor(spec), epochs: 10, seed: 1 }),
        test,
      ).accuracy,
  );
  console.log(
    `| local only (each household alone) | – | – | ${local.map((a) => (a * 100).toFixed(1)).join(" / ")} |`,
  );
}

if (args.child) await child(args.child);
else await main();
