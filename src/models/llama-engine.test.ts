// The llama engine against the real node-llama-cpp (CPU, prebuilt binary) on tiny GGUF files, and
// against a recording stand-in where the plan's GPU choices cannot run on this machine.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isKianaError, type KianaError } from "../errors.ts";
import { createEngineRegistry } from "../platform/engines.ts";
import { type HardwareProfile, readHardwareProfile } from "../platform/hardware-profile.ts";
import { CLAIMED_MODELS, writeClaimedModel } from "./claimed-models.test-helper.ts";
import type { LlamaPlan } from "./fit.ts";
import { TINY_LLAMA, tinyLlamaSpec, writeGguf, writeTinyLlama } from "./gguf-writer.test-helper.ts";
import { createLlamaEngine, type LlamaModule, type ModelRef, sequencesFor } from "./llama-engine.ts";

const tmp = mkdtempSync(join(tmpdir(), "kiana-llama-engine-"));
const engines = createEngineRegistry();
let loads = 0;
const loadLlama = async () => {
  loads++;
  return (await engines.load("llama")) as LlamaModule;
};
const fixture = (name: string) =>
  readHardwareProfile({
    root: join(import.meta.dir, "../platform/fixtures", name),
    useSysteminformation: false,
  });
/** The x86 PC fixture, held to two cores like the machine the tests run on. */
let pc: HardwareProfile;
let jetson: HardwareProfile;
const ref = (id: string, file = `${id}.gguf`): ModelRef => ({
  id,
  name: id,
  path: join(tmp, file),
  kind: "gguf",
});
const failure = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: KianaError) => e,
  );

beforeAll(async () => {
  const x86 = await fixture("x86-64-pc");
  pc = { ...x86, cpu: { ...x86.cpu, cores: 2 } };
  jetson = await fixture("jetson-orin-nano");
  writeTinyLlama(join(tmp, "tiny-a.gguf"), { seed: 1 });
  writeTinyLlama(join(tmp, "tiny-b.gguf"), { seed: 2 });
  writeClaimedModel(join(tmp, "huge.gguf"), CLAIMED_MODELS["70B Q4_K_M"]);
  // Reads fine as GGUF, but one matrix has the wrong shape for a llama block: only llama.cpp can tell.
  const spec = tinyLlamaSpec({ seed: 1 });
  const q = spec.tensors.find((t) => t.name === "blk.1.attn_q.weight");
  if (!q?.data) throw new Error("no attn_q in the tiny spec");
  q.dims = [TINY_LLAMA.embd, TINY_LLAMA.embd / 2];
  q.data = q.data.slice(0, q.data.length / 2);
  writeGguf(join(tmp, "bad-shape.gguf"), spec);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("real node-llama-cpp", () => {
  const engine = () => createLlamaEngine({ loadLlama, profile: pc });

  test("loads the tiny model on the CPU as planned, and a second load reuses it", async () => {
    const e = engine();
    try {
      const a = await e.load(ref("tiny-a"));
      expect(a.plan).toMatchObject({
        backend: "cpu",
        gpuLayers: 0,
        contextSize: TINY_LLAMA.context,
        threads: 1,
      });
      expect(a.model.llama.gpu).toBe(false);
      expect(a.model.gpuLayers).toBe(0);
      expect(a.model.trainContextSize).toBe(TINY_LLAMA.context);
      expect(a.loadMs).toBeGreaterThan(0);
      expect(await e.load(ref("tiny-a"))).toBe(a);
      expect(e.current()).toBe(a);
    } finally {
      await e.dispose();
    }
  }, 60_000);

  test("one model at a time: loading another waits for the lease, then disposes the first", async () => {
    const e = engine();
    try {
      const lease = await e.acquire(ref("tiny-a"));
      const a = lease.loaded;
      let bLoaded = false;
      const b = e.load(ref("tiny-b")).then((m) => {
        bLoaded = true;
        return m;
      });
      await Bun.sleep(100);
      expect(bLoaded).toBe(false);
      expect(a.model.disposed).toBe(false);
      lease.release();
      const loadedB = await b;
      expect(a.model.disposed).toBe(true);
      expect(loadedB.ref.id).toBe("tiny-b");
      expect(e.current()).toBe(loadedB);
    } finally {
      await e.dispose();
    }
  }, 60_000);

  test("a header claiming a 70B model is refused before node-llama-cpp is even loaded", async () => {
    const before = loads;
    const err = await failure(engine().load(ref("llama-70b", "huge.gguf")));
    expect(loads).toBe(before);
    expect(err?.code).toBe("MODEL_DOES_NOT_FIT");
    expect(err?.message).toContain("model llama-70b");
    expect(err?.message).toContain("Llama 3.1 70B Instruct needs");
    expect(Number(err?.details.needBytes)).toBeGreaterThan(30 * 2 ** 30);
    expect(Number(err?.details.needBytes)).toBeGreaterThan(Number(err?.details.haveBytes));
  });

  test("a file whose tensors llama.cpp rejects fails with MODEL_ENGINE_FAILED naming the file", async () => {
    const e = engine();
    try {
      const err = await failure(e.load(ref("bad", "bad-shape.gguf")));
      expect(isKianaError(err, "MODEL_ENGINE_FAILED")).toBe(true);
      expect(err?.message).toContain(join(tmp, "bad-shape.gguf"));
      // llama.cpp's own reason is caught from its log when this engine's logger is the one the process's
      // llama instance got; test files sharing one process share that instance, so either may show.
      expect(err?.message).toMatch(/wrong shape|Failed to load model/);
      expect(e.current()).toBeNull();
    } finally {
      await e.dispose();
    }
  }, 60_000);

  test("a missing file is MODEL_NOT_FOUND", async () => {
    const err = await failure(engine().load(ref("gone", "nowhere.gguf")));
    expect(err?.code).toBe("MODEL_NOT_FOUND");
  });

  test("embeddings come from the model's embedding context; oversized and bad inputs are refused", async () => {
    const e = createLlamaEngine({ loadLlama, profile: pc, embedContext: 32 });
    try {
      const m = await e.load(ref("tiny-a"));
      const out = await m.embed(["hello world", "hello world", [1, 259, 270]]);
      if (!out.ok) throw new Error(out.message);
      expect(out.vectors.map((v) => v.length)).toEqual([TINY_LLAMA.embd, TINY_LLAMA.embd, TINY_LLAMA.embd]);
      expect(out.vectors[0]).toEqual(out.vectors[1] as number[]);
      expect(out.vectors[0]).not.toEqual(out.vectors[2] as number[]);
      expect(await m.embed(["z".repeat(40)])).toMatchObject({ ok: false, code: "context_length_exceeded" });
      expect(await m.embed([[1, 1e9]])).toMatchObject({ ok: false, code: "invalid_input", param: "input" });
    } finally {
      await e.dispose();
    }
  }, 60_000);
});

describe("the plan drives node-llama-cpp (recording stand-in)", () => {
  class InsufficientMemoryError extends Error {}
  function fakeModule(loadModel: (o: object) => Promise<unknown>) {
    const calls: { getLlama: Record<string, unknown>[]; loadModel: Record<string, unknown>[] } = {
      getLlama: [],
      loadModel: [],
    };
    const mod = {
      LlamaLogLevel: { warn: "warn", error: "error", fatal: "fatal" },
      InsufficientMemoryError,
      getLlama: async (o: Record<string, unknown>) => {
        calls.getLlama.push(o);
        if (o.gpu === "vulkan") throw new Error("no Vulkan binary found for linux-arm64");
        return {
          dispose: async () => undefined,
          loadModel: (m: Record<string, unknown>) => {
            calls.loadModel.push(m);
            return loadModel(m);
          },
        };
      },
    };
    return { mod: mod as unknown as LlamaModule, calls };
  }
  const model = { dispose: async () => undefined };

  test("a Jetson gets CUDA with every layer in unified memory, never node-llama-cpp's auto pick", async () => {
    const { mod, calls } = fakeModule(async () => model);
    const e = createLlamaEngine({ loadLlama: async () => mod, profile: jetson });
    const m = await e.load(ref("tiny-a"));
    expect(calls.getLlama[0]).toMatchObject({ build: "never", gpu: "cuda" });
    expect(calls.loadModel[0]).toEqual({
      modelPath: join(tmp, "tiny-a.gguf"),
      gpuLayers: TINY_LLAMA.layers + 1,
      useMmap: true,
    });
    expect(m.plan.backend).toBe("cuda");
  });

  test("llama.cpp finding too little memory becomes MODEL_DOES_NOT_FIT with the planned numbers", async () => {
    const { mod } = fakeModule(async () => {
      throw new InsufficientMemoryError("A context size of 256 is too large for the available VRAM");
    });
    const err = await failure(
      createLlamaEngine({ loadLlama: async () => mod, profile: jetson }).load(ref("tiny-a")),
    );
    expect(err?.code).toBe("MODEL_DOES_NOT_FIT");
    expect(err?.message).toContain("model tiny-a");
    expect(err?.message).toContain("3/3 layers on cuda");
    expect(err?.message).toContain("too large for the available VRAM");
    expect(err?.details).toMatchObject({ backend: "cuda", gpuLayers: 3, contextSize: TINY_LLAMA.context });
  });

  test("a backend without binaries fails with MODEL_ENGINE_FAILED naming it", async () => {
    const { mod } = fakeModule(async () => model);
    const vulkanBoard = { ...pc, accelerators: { ...pc.accelerators, vulkan: ["radeon_icd.x86_64.json"] } };
    const e = createLlamaEngine({
      loadLlama: async () => mod,
      profile: vulkanBoard,
      budget: { gpuMemoryBytes: 8 * 2 ** 30 },
    });
    const err = await failure(e.load(ref("tiny-a")));
    expect(err?.code).toBe("MODEL_ENGINE_FAILED");
    expect(err?.message).toContain("failed to start its backend on vulkan: no Vulkan binary found");
  });
});

test("sequencesFor: extra chat sequences only where the budget holds their KV caches", () => {
  const GiB = 2 ** 30;
  const plan = (ram: number, cpu: number, kv: number): LlamaPlan =>
    ({
      backend: "cpu",
      ramBudgetBytes: ram,
      gpuBudgetBytes: null,
      memory: { weightsBytes: 0, kvCacheBytes: kv, computeBytes: 0, gpuBytes: 0, cpuBytes: cpu },
    }) as unknown as LlamaPlan;
  expect(sequencesFor(plan(8 * GiB, 2 * GiB, GiB / 4), 4)).toBe(4);
  expect(sequencesFor(plan(3 * GiB, 2.5 * GiB, GiB / 4), 4)).toBe(3);
  expect(sequencesFor(plan(3 * GiB, 2.9 * GiB, GiB / 4), 4)).toBe(1);
});
