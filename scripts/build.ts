// Builds dist/kiana-linux-<arch>/: the compiled `kiana`, lib/ with that arch's native engines, and a
// manifest.json of sha256 sums. Usage: scripts/build [--arch x64|arm64|all] [--skip-lib]
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join, relative, sep } from "node:path";
import { parseArgs } from "node:util";

export type BuildArch = "x64" | "arm64";

const ROOT = join(import.meta.dir, "..");
const CACHE = join(ROOT, ".cache", "build");
const ENGINE_PACKAGES = ["onnxruntime-node", "node-llama-cpp", "node-datachannel"] as const;
/** npm packages holding the Bun runtime each target's executable is made from. */
const BUN_PACKAGES: Record<BuildArch, string> = {
  x64: "@oven/bun-linux-x64",
  arm64: "@oven/bun-linux-aarch64",
};
/** Flags shared with scripts/bench, so the benchmark measures what ships. */
export const COMPILE_FLAGS = [
  "--compile",
  "--minify",
  "--sourcemap=none",
  "--bytecode",
  "--format=esm",
  "--no-compile-autoload-dotenv",
  "--no-compile-autoload-bunfig",
  // Without it the binary cannot resolve packages in lib/node_modules at run time.
  "--compile-autoload-package-json",
];

const started = performance.now();
function step(arch: BuildArch | "all", what: string): void {
  const s = ((performance.now() - started) / 1000).toFixed(1).padStart(6);
  console.log(`[${s}s] ${arch.padEnd(5)} ${what}`);
}

class BuildError extends Error {}

function run(cmd: string[], cwd: string): void {
  const res = Bun.spawnSync(cmd, { cwd, stdout: "pipe", stderr: "pipe" });
  if (res.exitCode !== 0) {
    const out = `${res.stdout.toString()}${res.stderr.toString()}`.trim().split("\n").slice(-15).join("\n");
    throw new BuildError(`command failed (exit ${res.exitCode}): ${cmd.join(" ")}\n${out}`);
  }
}

function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, "utf8")) as T;
}

/** Installs `deps` for linux-<arch> into a cache folder; skipped when the same set is already there. */
function stage(name: string, arch: BuildArch, deps: Record<string, string>): string {
  const dir = join(CACHE, `${name}-linux-${arch}`);
  const stamp = JSON.stringify({ deps, arch, bun: Bun.version });
  const stampFile = join(dir, ".stamp");
  if (existsSync(stampFile) && readFileSync(stampFile, "utf8") === stamp) return join(dir, "node_modules");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ name: `kiana-${name}`, private: true, dependencies: deps }),
  );
  const flags = [`--cpu=${arch}`, "--os=linux", "--ignore-scripts", "--linker=hoisted", "--production"];
  run([process.execPath, "install", ...flags], dir);
  writeFileSync(stampFile, stamp);
  return join(dir, "node_modules");
}

function engineDeps(): Record<string, string> {
  const pkg = readJson<{ dependencies: Record<string, string> }>(join(ROOT, "package.json"));
  const deps: Record<string, string> = {};
  for (const name of ENGINE_PACKAGES) {
    const version = pkg.dependencies[name];
    if (!version) throw new BuildError(`package.json has no dependency ${name}`);
    deps[name] = version;
  }
  return deps;
}

/** The Bun executable a target's binary is made from: the running one for the host arch. */
export function bunExecutable(arch: BuildArch): string {
  if (process.arch === arch) return process.execPath;
  const pkg = BUN_PACKAGES[arch];
  const nm = stage("bun", arch, { [pkg]: Bun.version });
  const exe = join(nm, pkg, "bin", "bun");
  if (!existsSync(exe)) throw new BuildError(`${pkg}@${Bun.version} has no bin/bun at ${exe}`);
  return exe;
}

export function compile(entry: string, outfile: string, arch: BuildArch): void {
  const target = `--target=bun-linux-${arch}`;
  run(
    [
      process.execPath,
      "build",
      entry,
      ...COMPILE_FLAGS,
      target,
      `--compile-executable-path=${bunExecutable(arch)}`,
      `--outfile=${outfile}`,
    ],
    ROOT,
  );
}

/** What of the staged node_modules goes into lib/: the engines for this arch, no build or type files. */
function keepInLib(rel: string, arch: BuildArch): boolean {
  const parts = rel.split(sep);
  const [top, second, ...rest] = parts;
  if (parts.some((p) => p === ".bin" || p === ".cache") || rel === ".package-lock.json") return false;
  if (/\.(map|d\.ts|d\.mts|d\.cts)$/.test(rel)) return false;
  if (top === "onnxruntime-node" && second === "bin" && rest.length >= 2) {
    const [, os, a] = rest;
    if (os !== undefined && os !== "linux") return false;
    if (a !== undefined && a !== arch) return false;
  }
  // llama.cpp's source bundle only matters for building from source; we always use build: "never".
  if (top === "node-llama-cpp" && second === "llama" && rest[0] === "gitRelease.bundle") return false;
  // x64: CPU and Vulkan builds; the CUDA packages (~540 MB) are left out.
  const llama = arch === "x64" ? ["linux-x64", "linux-x64-vulkan"] : ["linux-arm64"];
  if (top === "@node-llama-cpp" && second !== undefined && !llama.includes(second)) return false;
  if (top === "@node-datachannel" && second !== undefined && second !== `linux-${arch}-gnu`) return false;
  return true;
}

function copyLib(stagedModules: string, libDir: string, arch: BuildArch): void {
  rmSync(libDir, { recursive: true, force: true });
  cpSync(stagedModules, join(libDir, "node_modules"), {
    recursive: true,
    filter: (src) => src === stagedModules || keepInLib(relative(stagedModules, src), arch),
  });
}

function listFiles(dir: string, base = dir): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(full, base));
    else if (entry.isFile()) out.push(relative(base, full));
    else throw new BuildError(`unexpected non-file in dist: ${full}`);
  }
  return out.sort();
}

export async function sha256File(path: string): Promise<string> {
  const hasher = new Bun.CryptoHasher("sha256");
  for await (const chunk of Bun.file(path).stream()) hasher.update(chunk);
  return hasher.digest("hex");
}

async function writeManifest(outDir: string, arch: BuildArch): Promise<void> {
  const pkg = readJson<{ name: string; version: string }>(join(ROOT, "package.json"));
  const files: Record<string, { sha256: string; size: number }> = {};
  for (const rel of listFiles(outDir)) {
    if (rel === "manifest.json") continue;
    const full = join(outDir, rel);
    files[rel.split(sep).join("/")] = { sha256: await sha256File(full), size: statSync(full).size };
  }
  const manifest = {
    name: pkg.name,
    version: pkg.version,
    platform: "linux",
    arch,
    bun: Bun.version,
    builtAt: new Date().toISOString(),
    engines: engineDeps(),
    files,
  };
  writeFileSync(join(outDir, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
}

function folderSize(dir: string): number {
  return listFiles(dir).reduce((sum, rel) => sum + statSync(join(dir, rel)).size, 0);
}

async function buildArch(arch: BuildArch, skipLib: boolean): Promise<void> {
  const outDir = join(ROOT, "dist", `kiana-linux-${arch}`);
  const libDir = join(outDir, "lib");
  if (skipLib && !existsSync(libDir))
    throw new BuildError(`--skip-lib: ${libDir} does not exist; build once without it`);
  if (!skipLib) {
    step(arch, "staging engine packages (bun install, cached under .cache/build)");
    const staged = stage("engines", arch, engineDeps());
    rmSync(outDir, { recursive: true, force: true });
    step(arch, `copying engines into lib/ (pruned to linux-${arch})`);
    copyLib(staged, libDir, arch);
  }
  step(arch, "compiling kiana");
  mkdirSync(outDir, { recursive: true });
  compile(join(ROOT, "src", "main.ts"), join(outDir, "kiana"), arch);
  step(arch, "writing manifest.json");
  await writeManifest(outDir, arch);
  const mb = (n: number) => `${(n / 2 ** 20).toFixed(0)} MB`;
  step(
    arch,
    `done: ${relative(ROOT, outDir)} ${mb(folderSize(outDir))} (kiana ${mb(statSync(join(outDir, "kiana")).size)}, lib ${mb(folderSize(libDir))})`,
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Bun.argv.slice(2),
    options: { arch: { type: "string", default: "all" }, "skip-lib": { type: "boolean", default: false } },
  });
  const archs: BuildArch[] = values.arch === "all" ? ["x64", "arm64"] : [values.arch as BuildArch];
  if (!archs.every((a) => a === "x64" || a === "arm64"))
    throw new BuildError(`--arch must be x64, arm64 or all, not ${values.arch}`);
  for (const arch of archs) await buildArch(arch, values["skip-lib"]);
  step("all", "build finished");
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    const msg = err instanceof Error ? err.message : String(err);
    console.error(`build failed: ${msg}`);
    process.exit(1);
  });
}
