// Loading decisions over the fixture boards × real model shapes, each model read back through the
// GGUF reader from a header that claims its true size; one expected decision per cell.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { HardwareProfile } from "../platform/hardware-profile.ts";
import { readHardwareProfile } from "../platform/hardware-profile.ts";
import { CLAIMED_MODELS, type ClaimedModelName, writeClaimedModel } from "./claimed-models.test-helper.ts";
import { decideLoad, type LoadBudget, type LoadDecision, refusalError, threadsFor } from "./fit.ts";
import { type GgufInfo, readGgufInfo } from "./gguf.ts";
import { type OnnxInfo, readOnnxInfo } from "./onnx-meta.ts";
import { writeSparseOnnx, writeTinyOnnx } from "./onnx-writer.test-helper.ts";

const GiB = 2 ** 30;
const tmp = mkdtempSync(join(tmpdir(), "kiana-fit-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const fixture = (name: string) =>
  readHardwareProfile({
    root: join(import.meta.dir, "../platform/fixtures", name),
    useSysteminformation: false,
  });

/** The x86 fixture has no GPU; this is the same PC with an 8 GiB NVIDIA card added. */
const withCuda = (p: HardwareProfile): HardwareProfile => ({
  ...p,
  accelerators: { ...p.accelerators, cuda: { devices: ["/dev/nvidia0"], unifiedMemory: false } },
});

type Board = "Pi 4 4GB" | "Pi 5 8GB" | "Jetson Orin Nano 8GB" | "x86-64" | "x86-64 + CUDA 8GB";
const boards = {} as Record<Board, { profile: HardwareProfile; budget: LoadBudget }>;
const models = {} as Record<ClaimedModelName, GgufInfo>;
let tinyOnnx: OnnxInfo;
let hugeOnnx: OnnxInfo;

beforeAll(async () => {
  const x86 = await fixture("x86-64-pc");
  boards["Pi 4 4GB"] = { profile: await fixture("rpi4"), budget: {} };
  boards["Pi 5 8GB"] = { profile: await fixture("rpi5"), budget: {} };
  boards["Jetson Orin Nano 8GB"] = { profile: await fixture("jetson-orin-nano"), budget: {} };
  boards["x86-64"] = { profile: x86, budget: {} };
  boards["x86-64 + CUDA 8GB"] = { profile: withCuda(x86), budget: { gpuMemoryBytes: 8 * GiB } };
  for (const [name, spec] of Object.entries(CLAIMED_MODELS)) {
    const path = join(tmp, `${name.replace(/\W+/g, "-")}.gguf`);
    writeClaimedModel(path, spec);
    models[name as ClaimedModelName] = await readGgufInfo(path);
  }
  writeTinyOnnx(join(tmp, "tiny.onnx"));
  tinyOnnx = await readOnnxInfo(join(tmp, "tiny.onnx"));
  writeSparseOnnx(join(tmp, "huge.onnx"), 2 ** 30);
  hugeOnnx = await readOnnxInfo(join(tmp, "huge.onnx"));
});

/** "cuda 25/25 @32768 ×6": backend, GPU layers of total, context, threads; or "refused". */
function cell(d: LoadDecision): string {
  if (!d.ok) return "refused";
  if (d.engine === "onnxruntime") return `${d.backend} ×${d.intraOpThreads}`;
  return `${d.backend} ${d.gpuLayers}/${d.totalLayers} @${d.contextSize} ×${d.threads}`;
}

const TABLE: Record<ClaimedModelName, Record<Board, string>> = {
  "0.5B Q4_K_M": {
    "Pi 4 4GB": "cpu 0/25 @32768 ×3",
    "Pi 5 8GB": "cpu 0/25 @32768 ×3",
    "Jetson Orin Nano 8GB": "cuda 25/25 @32768 ×6",
    "x86-64": "cpu 0/25 @32768 ×3",
    "x86-64 + CUDA 8GB": "cuda 25/25 @32768 ×3",
  },
  "1.5B Q4_K_M": {
    "Pi 4 4GB": "cpu 0/29 @32768 ×3",
    "Pi 5 8GB": "cpu 0/29 @32768 ×3",
    "Jetson Orin Nano 8GB": "cuda 29/29 @32768 ×6",
    "x86-64": "cpu 0/29 @32768 ×3",
    "x86-64 + CUDA 8GB": "cuda 29/29 @32768 ×3",
  },
  "3B Q4_K_M": {
    "Pi 4 4GB": "cpu 0/29 @4096 ×3",
    "Pi 5 8GB": "cpu 0/29 @16384 ×3",
    "Jetson Orin Nano 8GB": "cuda 29/29 @16384 ×6",
    "x86-64": "cpu 0/29 @65536 ×3",
    "x86-64 + CUDA 8GB": "cuda 12/29 @65536 ×3",
  },
  "7B Q4_K_M": {
    "Pi 4 4GB": "refused",
    "Pi 5 8GB": "cpu 0/33 @8192 ×3",
    "Jetson Orin Nano 8GB": "cuda 33/33 @8192 ×6",
    "x86-64": "cpu 0/33 @32768 ×3",
    "x86-64 + CUDA 8GB": "cuda 19/33 @32768 ×3",
  },
  "8B Q8_0": {
    "Pi 4 4GB": "refused",
    "Pi 5 8GB": "refused",
    "Jetson Orin Nano 8GB": "refused",
    "x86-64": "cpu 0/33 @32768 ×3",
    "x86-64 + CUDA 8GB": "cuda 6/33 @65536 ×3",
  },
  "70B Q4_K_M": {
    "Pi 4 4GB": "refused",
    "Pi 5 8GB": "refused",
    "Jetson Orin Nano 8GB": "refused",
    "x86-64": "refused",
    "x86-64 + CUDA 8GB": "refused",
  },
};

describe("board × model", () => {
  for (const [modelName, row] of Object.entries(TABLE) as [ClaimedModelName, Record<Board, string>][]) {
    for (const [board, want] of Object.entries(row) as [Board, string][]) {
      test(`${modelName} on ${board}: ${want}`, () => {
        const { profile, budget } = boards[board];
        const d = decideLoad({ profile, model: models[modelName], budget });
        expect(cell(d)).toBe(want);
        if (d.ok && d.engine === "llama.cpp") {
          // A plan never spends more than its budgets.
          expect(d.memory.cpuBytes).toBeLessThanOrEqual(d.ramBudgetBytes);
          if (d.gpuBudgetBytes !== null) expect(d.memory.gpuBytes).toBeLessThanOrEqual(d.gpuBudgetBytes);
        } else if (!d.ok) {
          expect(d.needBytes).toBeGreaterThan(d.haveBytes);
          expect(d.contextSize).toBe(512);
          expect(d.reason).toContain(`${(d.needBytes / GiB).toFixed(2)} GiB at context 512`);
          expect(d.reason).toContain(`budget is ${(d.haveBytes / GiB).toFixed(2)} GiB`);
        }
      });
    }
  }
});

describe("rules", () => {
  test("a refusal becomes MODEL_DOES_NOT_FIT carrying the numbers", () => {
    const d = decideLoad({ profile: boards["Pi 4 4GB"].profile, model: models["70B Q4_K_M"] });
    if (d.ok) throw new Error("70B must not fit a Pi 4");
    const err = refusalError(d);
    expect(err.code).toBe("MODEL_DOES_NOT_FIT");
    expect(err.message).toMatch(/Llama 3\.1 70B Instruct needs 40\.\d\d GiB .* budget is 2\.70 GiB/);
    expect(err.details).toMatchObject({
      engine: "llama.cpp",
      needBytes: d.needBytes,
      haveBytes: d.haveBytes,
    });
  });

  test("contexts: a smaller wish is honoured, a bigger one capped at the trained length", () => {
    const { profile } = boards["x86-64"];
    const small = decideLoad({ profile, model: models["0.5B Q4_K_M"], wantContext: 4096 });
    expect(cell(small)).toBe("cpu 0/25 @4096 ×3");
    const big = decideLoad({ profile, model: models["0.5B Q4_K_M"], wantContext: 1 << 20 });
    expect(big.ok && big.engine === "llama.cpp" && big.contextSize).toBe(32768);
    expect(big.ok && big.reasons).toContain("context capped at the trained 32768");
  });

  test("Jetson without a CUDA build of llama.cpp runs on its CPU, saying why", () => {
    const { profile } = boards["Jetson Orin Nano 8GB"];
    const d = decideLoad({ profile, model: models["3B Q4_K_M"], budget: { llamaBackends: ["cpu"] } });
    expect(cell(d)).toBe("cpu 0/29 @16384 ×6");
    // Its Vulkan ICD is NVIDIA's, but without a Vulkan build that is skipped as well.
    expect(d.ok && d.reasons.slice(0, 2)).toEqual([
      "an NVIDIA GPU is present but the installed llama.cpp has no CUDA build",
      "a Vulkan device is present but the installed llama.cpp has no Vulkan build",
    ]);
  });

  test("a discrete GPU of unknown size is not guessed at: CPU", () => {
    const d = decideLoad({ profile: withCuda(boards["x86-64"].profile), model: models["7B Q4_K_M"] });
    expect(cell(d)).toBe("cpu 0/33 @32768 ×3");
    expect(d.ok && d.reasons).toContain("GPU memory size unknown: using the CPU");
  });

  test("Vulkan: a real GPU is used, lavapipe and the Pi's V3D are not", () => {
    const x86 = boards["x86-64"].profile;
    const vk = (icds: string[]) => ({ ...x86, accelerators: { ...x86.accelerators, vulkan: icds } });
    const budget = { gpuMemoryBytes: 8 * GiB };
    const radeon = decideLoad({
      profile: vk(["radeon_icd.x86_64.json"]),
      model: models["7B Q4_K_M"],
      budget,
    });
    expect(cell(radeon)).toBe("vulkan 19/33 @32768 ×3");
    const soft = decideLoad({ profile: vk(["lvp_icd.x86_64.json"]), model: models["7B Q4_K_M"], budget });
    expect(cell(soft)).toBe("cpu 0/33 @32768 ×3");
    const pi5 = boards["Pi 5 8GB"].profile;
    const v3d = { ...pi5, accelerators: { ...pi5.accelerators, vulkan: ["broadcom_icd.aarch64.json"] } };
    expect(cell(decideLoad({ profile: v3d, model: models["3B Q4_K_M"] }))).toBe("cpu 0/29 @16384 ×3");
  });

  test("threads: one core left on boards with 4 or fewer, all cores above", () => {
    const cores = (n: number) => ({
      ...boards["x86-64"].profile,
      cpu: { ...boards["x86-64"].profile.cpu, cores: n },
    });
    expect([1, 2, 4, 6, 16, 0].map((n) => threadsFor(cores(n)))).toEqual([1, 1, 3, 6, 16, 1]);
  });

  test("an unknown memory size refuses rather than guesses", () => {
    const p = boards["Pi 5 8GB"].profile;
    const d = decideLoad({
      profile: { ...p, memory: { totalBytes: 0, availableBytes: 0 } },
      model: models["0.5B Q4_K_M"],
    });
    expect(d.ok).toBe(false);
    expect(!d.ok && d.reason).toContain("memory size is unknown");
  });

  test("a bigger reserve turns a fit into a smaller context, then into a refusal", () => {
    const { profile } = boards["Pi 5 8GB"];
    const at = (reserveBytes: number) =>
      cell(decideLoad({ profile, model: models["7B Q4_K_M"], budget: { reserveBytes } }));
    expect(at(GiB)).toBe("cpu 0/33 @8192 ×3");
    expect(at(2.5 * GiB)).toBe("cpu 0/33 @4096 ×3");
    expect(at(3.5 * GiB)).toBe("cpu 0/33 @512 ×3");
    expect(at(4 * GiB)).toBe("refused");
  });
});

describe("ONNX models", () => {
  test("execution provider and threads per board", () => {
    const d = (b: Board, budget: LoadBudget = {}) =>
      cell(decideLoad({ profile: boards[b].profile, model: tinyOnnx, budget }));
    expect(d("Pi 4 4GB")).toBe("cpu ×3");
    expect(d("Jetson Orin Nano 8GB")).toBe("cuda ×6");
    expect(d("Jetson Orin Nano 8GB", { onnxProviders: ["cpu"] })).toBe("cpu ×6");
    expect(d("x86-64")).toBe("cpu ×3");
    expect(d("x86-64 + CUDA 8GB")).toBe("cuda ×3");
  });

  test("a 4 GiB ONNX model is refused on a Pi 4 with the numbers", () => {
    const d = decideLoad({ profile: boards["Pi 4 4GB"].profile, model: hugeOnnx });
    expect(d.ok).toBe(false);
    expect(!d.ok && d.reason).toMatch(
      /needs 8\.06 GiB \(weights 4\.00 GiB, twice while loading\) but the budget is 2\.70 GiB/,
    );
    const plan = decideLoad({ profile: boards["x86-64"].profile, model: hugeOnnx });
    expect(plan.ok && plan.engine === "onnxruntime" && plan.executionProviders).toEqual(["cpu"]);
  });
});
