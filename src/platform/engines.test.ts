// Engine registry against the repo's real node_modules (dev layout) and against broken lib/ folders.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { isKianaError } from "../errors.ts";
import { createEngineRegistry, defaultLibDir, type EngineStatus } from "./engines.ts";

const tmp = mkdtempSync(join(tmpdir(), "kiana-engines-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function recordingLog() {
  const lines: { level: string; obj: object; msg?: string }[] = [];
  return {
    lines,
    info: (obj: object, msg?: string) => lines.push({ level: "info", obj, msg }),
    warn: (obj: object, msg?: string) => lines.push({ level: "warn", obj, msg }),
  };
}

function writeFiles(root: string, files: Record<string, string>): void {
  for (const [rel, body] of Object.entries(files)) {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), body);
  }
}

describe("in development (repo node_modules)", () => {
  const log = recordingLog();
  const engines = createEngineRegistry({ log });

  test("is not a compiled binary, so there is no lib/ folder", () => {
    expect(defaultLibDir()).toBeNull();
  });

  test("probe finds all three engines with the versions package.json pins", () => {
    const byName = Object.fromEntries(engines.probe().map((s) => [s.name, s])) as Record<
      string,
      EngineStatus
    >;
    expect(byName.onnxruntime).toMatchObject({
      state: "available",
      version: pkg.dependencies["onnxruntime-node"],
    });
    expect(byName.llama).toMatchObject({ state: "available", version: pkg.dependencies["node-llama-cpp"] });
    expect(byName.datachannel).toMatchObject({
      state: "available",
      version: pkg.dependencies["node-datachannel"],
    });
  });

  test("load(onnxruntime) returns the real module, once", async () => {
    const ort = (await engines.load("onnxruntime")) as {
      InferenceSession: unknown;
      env: { versions: object };
    };
    expect(typeof ort.InferenceSession).toBe("function");
    expect(ort.env.versions).toMatchObject({ node: pkg.dependencies["onnxruntime-node"] });
    expect(await engines.load("onnxruntime")).toBe(ort);
    expect(engines.status("onnxruntime").state).toBe("loaded");
    expect(log.lines.filter((l) => l.msg === "engine loaded")).toHaveLength(1);
  });

  test("load(llama) gives a getLlama that finds the prebuilt CPU binary without building", async () => {
    const llama = (await engines.load("llama")) as {
      getLlama(o: object): Promise<{ buildType: string; dispose(): Promise<void> }>;
    };
    const instance = await llama.getLlama({ gpu: false, progressLogs: false, logLevel: "error" });
    expect(instance.buildType).toBe("prebuilt");
    await instance.dispose();
  });

  test("load(datachannel) returns the module with PeerConnection", async () => {
    const dc = (await engines.load("datachannel")) as { PeerConnection: unknown };
    expect(typeof dc.PeerConnection).toBe("function");
  });

  test("an arch whose platform package is absent is missing, naming that package's addon", () => {
    const arm = createEngineRegistry({ arch: "arm64" }).status("datachannel");
    expect(arm.state).toBe("missing");
    expect(arm.reason).toContain(join("@node-datachannel", "linux-arm64-gnu", "node_datachannel.node"));
  });
});

describe("with a lib/ folder that is empty or broken", () => {
  test("a nonexistent lib/ reports every engine missing with the path it looked at", () => {
    const libDir = join(tmp, "nowhere", "lib");
    const statuses = createEngineRegistry({ libDir }).probe();
    expect(statuses.map((s) => s.state)).toEqual(["missing", "missing", "missing"]);
    for (const s of statuses) expect(s.reason).toContain(join(libDir, "node_modules"));
  });

  test("load() of a missing engine throws ENGINE_MISSING and the process carries on", async () => {
    const libDir = join(tmp, "empty", "lib");
    mkdirSync(libDir, { recursive: true });
    const log = recordingLog();
    const engines = createEngineRegistry({ libDir, log });
    const err = await engines.load("onnxruntime").catch((e: unknown) => e);
    expect(isKianaError(err, "ENGINE_MISSING")).toBe(true);
    expect((err as Error).message).toContain(
      join(libDir, "node_modules", "onnxruntime-node", "package.json"),
    );
    expect(engines.status("onnxruntime").state).toBe("missing");
    expect(log.lines.some((l) => l.level === "warn")).toBe(true);
  });

  test("a corrupt shared library fails with ENGINE_LOAD_FAILED, is reported as failed and not retried", async () => {
    const libDir = join(tmp, "corrupt", "lib");
    const bin = "node_modules/onnxruntime-node/bin/napi-v6/linux/x64";
    writeFiles(libDir, {
      "node_modules/onnxruntime-node/package.json": JSON.stringify({
        name: "onnxruntime-node",
        version: "9.9.9",
      }),
      "node_modules/onnxruntime-common/package.json": "{}",
      [`${bin}/libonnxruntime.so.1`]: "not an ELF file",
      [`${bin}/onnxruntime_binding.node`]: "not an ELF file",
    });
    const engines = createEngineRegistry({ libDir, arch: "x64" });
    expect(engines.status("onnxruntime")).toMatchObject({ state: "available", version: "9.9.9" });
    const first = await engines.load("onnxruntime").catch((e: unknown) => e);
    expect(isKianaError(first, "ENGINE_LOAD_FAILED")).toBe(true);
    expect((first as Error).message).toContain("libonnxruntime.so.1");
    expect(engines.status("onnxruntime")).toMatchObject({
      state: "failed",
      reason: (first as Error).message,
    });
    expect(await engines.load("onnxruntime").catch((e: unknown) => e)).toBe(first);
  });
});
