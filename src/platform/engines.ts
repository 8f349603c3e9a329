// Lazy loading of the native engines (onnxruntime, llama.cpp, libdatachannel). A compiled kiana finds
// them in the lib/ folder beside its binary; in development they come from the repo's node_modules.
import { existsSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { describeError, type KianaError, kianaError } from "../errors.ts";

export type EngineName = "onnxruntime" | "llama" | "datachannel";
export type EngineArch = "x64" | "arm64";

export const ENGINE_NAMES: readonly EngineName[] = ["onnxruntime", "llama", "datachannel"];

export interface EngineStatus {
  name: EngineName;
  state: "available" | "missing" | "failed" | "loaded";
  /** Why the engine is missing or failed; null when it is fine. */
  reason: string | null;
  version: string | null;
  /** The engine's package folder. */
  path: string | null;
}

export interface EngineLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface EngineRegistryOptions {
  /** The lib/ folder holding node_modules/; null or absent: the repo's node_modules (dev and tests). */
  libDir?: string | null;
  log?: EngineLog;
  arch?: EngineArch;
}

export interface EngineRegistry {
  /** Checks that each engine's files are there without loading anything. */
  probe(): EngineStatus[];
  /** Imports the engine on first use and caches it; throws ENGINE_MISSING or ENGINE_LOAD_FAILED. */
  load(name: EngineName): Promise<unknown>;
  status(name: EngineName): EngineStatus;
}

interface EngineSpec {
  pkg: string;
  /** Files (relative to node_modules/) that must exist for the engine to be usable on `arch`. */
  files(arch: EngineArch): string[];
  open(pkgDir: string, arch: EngineArch): Promise<unknown>;
}

const SPECS: Record<EngineName, EngineSpec> = {
  onnxruntime: {
    pkg: "onnxruntime-node",
    files: (arch) => [
      "onnxruntime-node/package.json",
      `onnxruntime-node/bin/napi-v6/linux/${arch}/onnxruntime_binding.node`,
      `onnxruntime-node/bin/napi-v6/linux/${arch}/libonnxruntime.so.1`,
      "onnxruntime-common/package.json",
    ],
    async open(pkgDir, arch) {
      // The addon's DT_NEEDED libonnxruntime.so.1 is only found via its rpath when the addon sits on
      // disk beside it; loading the library first by absolute path makes the lookup independent of that.
      // The handle is never closed: the library must stay mapped for the addon's lifetime.
      const { dlopen, FFIType } = await import("bun:ffi");
      const lib = join(pkgDir, "bin", "napi-v6", "linux", arch, "libonnxruntime.so.1");
      dlopen(lib, { OrtGetApiBase: { args: [], returns: FFIType.ptr } });
      const mod = requireFrom(pkgDir) as { InferenceSession?: unknown };
      if (typeof mod.InferenceSession !== "function") throw new Error("module has no InferenceSession");
      return mod;
    },
  },
  llama: {
    pkg: "node-llama-cpp",
    files: (arch) => [
      "node-llama-cpp/package.json",
      "node-llama-cpp/dist/index.js",
      `@node-llama-cpp/linux-${arch}/bins/linux-${arch}/llama-addon.node`,
    ],
    async open(pkgDir) {
      // Only the JS entry: callers create the Llama themselves, through the wrapped getLlama below.
      const mod = (await import(pathToFileURL(join(pkgDir, "dist", "index.js")).href)) as {
        getLlama?: unknown;
      };
      const getLlama = mod.getLlama;
      if (typeof getLlama !== "function") throw new Error("module has no getLlama");
      return { ...mod, getLlama: (options?: object) => callGetLlama(getLlama as GetLlama, options) };
    },
  },
  datachannel: {
    pkg: "node-datachannel",
    files: (arch) => [
      "node-datachannel/package.json",
      "detect-libc/package.json",
      `@node-datachannel/linux-${arch}-gnu/node_datachannel.node`,
    ],
    async open(pkgDir) {
      const mod = requireFrom(pkgDir) as { PeerConnection?: unknown };
      if (typeof mod.PeerConnection !== "function") throw new Error("module has no PeerConnection");
      return mod;
    },
  },
};

type GetLlama = (options: object) => Promise<unknown>;

/**
 * node-llama-cpp tests a prebuilt addon by fork()ing process.execPath with a script; a compiled kiana
 * would run itself instead, so the child is told to act as plain bun (BUN_BE_BUN) while getLlama
 * starts it. build: "never" always: a device never compiles llama.cpp.
 */
async function callGetLlama(getLlama: GetLlama, options?: object): Promise<unknown> {
  const compiled = isCompiledBinary();
  const before = process.env.BUN_BE_BUN;
  if (compiled) process.env.BUN_BE_BUN = "1";
  try {
    // The fork happens some awaits into getLlama: the variable is restored once it has settled.
    return await getLlama({ ...options, build: "never" });
  } finally {
    if (compiled) {
      if (before === undefined) delete process.env.BUN_BE_BUN;
      else process.env.BUN_BE_BUN = before;
    }
  }
}

/** Requires a package folder by absolute path, so the bundler never sees (or embeds) it. */
function requireFrom(pkgDir: string): unknown {
  return createRequire(join(pkgDir, "package.json"))(pkgDir);
}

/** True inside a `bun build --compile` executable, whose modules live in the /$bunfs/ virtual folder. */
export function isCompiledBinary(): boolean {
  return import.meta.url.includes("/$bunfs/") || Bun.main.startsWith("/$bunfs/");
}

export function defaultLibDir(): string | null {
  return isCompiledBinary() ? join(dirname(process.execPath), "lib") : null;
}

/** The nearest node_modules folder above this file: the repo's, in development. */
function findRepoNodeModules(): string {
  let dir = import.meta.dir;
  for (let i = 0; i < 32; i++) {
    const candidate = join(dir, "node_modules");
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return join(import.meta.dir, "node_modules");
}

function readVersion(pkgDir: string): string | null {
  try {
    const pkg = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")) as { version?: unknown };
    return typeof pkg.version === "string" ? pkg.version : null;
  } catch {
    return null;
  }
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

export function createEngineRegistry(opts: EngineRegistryOptions = {}): EngineRegistry {
  const nodeModules = opts.libDir ? join(opts.libDir, "node_modules") : findRepoNodeModules();
  const arch: EngineArch = opts.arch ?? (process.arch === "arm64" ? "arm64" : "x64");
  const log = opts.log;
  const loaded = new Map<EngineName, unknown>();
  const failed = new Map<EngineName, KianaError>();
  const pending = new Map<EngineName, Promise<unknown>>();

  function probeOne(name: EngineName): EngineStatus {
    const spec = SPECS[name];
    const path = join(nodeModules, spec.pkg);
    const lacking = spec.files(arch).find((f) => !isFile(join(nodeModules, f)));
    if (lacking !== undefined) {
      const reason = `${spec.pkg} for linux-${arch} not installed: ${join(nodeModules, lacking)} is missing`;
      return { name, state: "missing", reason, version: null, path };
    }
    return { name, state: "available", reason: null, version: readVersion(path), path };
  }

  function status(name: EngineName): EngineStatus {
    const base = probeOne(name);
    if (loaded.has(name)) return { ...base, state: "loaded", reason: null };
    const err = failed.get(name);
    if (err) return { ...base, state: "failed", reason: err.message };
    return base;
  }

  async function open(name: EngineName, st: EngineStatus): Promise<unknown> {
    const pkgDir = st.path ?? join(nodeModules, SPECS[name].pkg);
    try {
      const mod = await SPECS[name].open(pkgDir, arch);
      loaded.set(name, mod);
      log?.info({ engine: name, version: st.version, path: pkgDir }, "engine loaded");
      return mod;
    } catch (cause) {
      const err = kianaError(
        "ENGINE_LOAD_FAILED",
        `${name} engine failed to load from ${pkgDir}: ${describeError(cause)}`,
        { engine: name, path: pkgDir },
        cause,
      );
      failed.set(name, err);
      log?.warn({ engine: name, path: pkgDir, err: describeError(cause) }, "engine failed to load");
      throw err;
    } finally {
      pending.delete(name);
    }
  }

  return {
    probe: () => ENGINE_NAMES.map(status),
    status,
    async load(name) {
      if (loaded.has(name)) return loaded.get(name);
      const earlier = failed.get(name);
      if (earlier) throw earlier;
      const inflight = pending.get(name);
      if (inflight) return inflight;
      const st = probeOne(name);
      if (st.state === "missing") {
        const err = kianaError("ENGINE_MISSING", `${name} engine is unavailable: ${st.reason}`, {
          engine: name,
          path: st.path,
        });
        log?.warn({ engine: name, reason: st.reason }, "engine missing");
        throw err;
      }
      const p = open(name, st);
      pending.set(name, p);
      return p;
    },
  };
}
