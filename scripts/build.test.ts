// Tests of what scripts/build ships: the x64 binary serving /healthz, both binaries' doctor output, the
// arm64 binary under qemu's Cortex-A72 (no LSE atomics), engines loading from lib/, and the manifests.
import { afterAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { freeLoopbackPort } from "../src/platform/free-port.test-helper.ts";
import { type BuildArch, compile, sha256File } from "./build.ts";

const ROOT = join(import.meta.dir, "..");
const QEMU = ["qemu-aarch64-static", "-cpu", "cortex-a72", "-L", "/usr/aarch64-linux-gnu"];
const tmp = mkdtempSync(join(tmpdir(), "kiana-build-test-"));
const children: Bun.Subprocess[] = [];
afterAll(() => {
  for (const child of children) child.kill("SIGKILL");
  rmSync(tmp, { recursive: true, force: true });
});

function distDir(arch: BuildArch): string {
  const dir = join(ROOT, "dist", `kiana-linux-${arch}`);
  if (!existsSync(join(dir, "kiana")) || !existsSync(join(dir, "manifest.json"))) {
    throw new Error(`${relative(ROOT, dir)}/kiana or manifest.json is missing: run scripts/build first`);
  }
  return dir;
}

function requireQemu(): void {
  if (!Bun.which("qemu-aarch64-static") || !existsSync("/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1")) {
    throw new Error("qemu-aarch64-static or the arm64 glibc is missing: install scripts/debian-packages.txt");
  }
}

/** Runs a command to completion, killing it after `timeoutMs`. */
async function exec(cmd: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}) {
  const proc = Bun.spawn(cmd, {
    env: { ...process.env, ...opts.env },
    stdout: "pipe",
    stderr: "pipe",
    cwd: tmp,
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), opts.timeoutMs ?? 30_000);
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  return { stdout, stderr, code };
}

interface Doctor {
  version: string;
  engines: { name: string; state: string; path: string | null; reason: string | null }[];
}

function parseDoctor(res: { stdout: string; stderr: string; code: number }): Doctor {
  try {
    return JSON.parse(res.stdout) as Doctor;
  } catch {
    throw new Error(
      `doctor --json printed no JSON (exit ${res.code}): ${res.stdout.slice(0, 500)} ${res.stderr.slice(-1500)}`,
    );
  }
}

function expectEnginesFromLib(doctor: Doctor, arch: BuildArch): void {
  const lib = join(distDir(arch), "lib", "node_modules");
  expect(doctor.version).toBe(pkg.version);
  expect(doctor.engines.map((e) => [e.name, e.state]).sort()).toEqual([
    ["datachannel", "available"],
    ["llama", "available"],
    ["onnxruntime", "available"],
  ]);
  for (const e of doctor.engines) expect(e.path?.startsWith(lib)).toBe(true);
}

describe("x64 binary", () => {
  test("kiana run answers /healthz from an empty data dir", async () => {
    const kiana = join(distDir("x64"), "kiana");
    const data = mkdtempSync(join(tmp, "data-"));
    const port = freeLoopbackPort();
    const child = Bun.spawn([kiana, "run", "--port", String(port)], {
      env: { ...process.env, KIANA_DATA: data, KIANA_MESH_ENABLED: "false" },
      cwd: tmp,
      stdout: "ignore",
      stderr: "pipe",
    });
    children.push(child);
    const deadline = Date.now() + 20_000;
    let last = "no answer";
    while (Date.now() < deadline && child.exitCode === null) {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`).catch((e: unknown) => String(e));
      if (typeof res !== "string") {
        expect(res.status).toBe(200);
        expect(await res.json()).toEqual({ status: "ok" });
        return;
      }
      last = res;
      await Bun.sleep(100);
    }
    const stderr = child.exitCode === null ? "" : await new Response(child.stderr).text();
    throw new Error(
      `no /healthz answer within 20 s (exit ${child.exitCode}; ${last}) ${stderr.slice(-2000)}`,
    );
  }, 30_000);

  test("kiana doctor --json lists every engine as available from lib/", async () => {
    const res = await exec([join(distDir("x64"), "kiana"), "doctor", "--json"]);
    expectEnginesFromLib(parseDoctor(res), "x64");
    expect(res.code).toBe(0);
  });
  test("without its lib/ the binary still runs: every engine is missing with a reason, only warnings", async () => {
    const alone = mkdtempSync(join(tmp, "alone-"));
    copyFileSync(join(distDir("x64"), "kiana"), join(alone, "kiana"));
    chmodSync(join(alone, "kiana"), 0o755);
    const res = await exec([join(alone, "kiana"), "doctor", "--json"]);
    const doctor = parseDoctor(res);
    expect(doctor.engines.map((e) => e.state)).toEqual(["missing", "missing", "missing"]);
    for (const e of doctor.engines) expect(e.reason).toContain(join(alone, "lib"));
    expect(res.code).toBe(0);
  });
});

describe("arm64 binary under qemu -cpu cortex-a72", () => {
  test("kiana version", async () => {
    requireQemu();
    const res = await exec([...QEMU, join(distDir("arm64"), "kiana"), "version"], { timeoutMs: 60_000 });
    expect(res.stderr).toBe("");
    expect(res.stdout.trim()).toBe(`kiana ${pkg.version}`);
  }, 70_000);

  test("kiana doctor --json lists every engine as available from lib/", async () => {
    requireQemu();
    const res = await exec([...QEMU, join(distDir("arm64"), "kiana"), "doctor", "--json"], {
      timeoutMs: 60_000,
    });
    expectEnginesFromLib(parseDoctor(res), "arm64");
    expect(res.code).toBe(0);
  }, 70_000);
});

describe("engines load from lib/ in a compiled binary", () => {
  // A small binary built with the release flags that loads every engine from a given lib/ folder.
  const probeSource = `
    import { createEngineRegistry, defaultLibDir } from ${JSON.stringify(join(ROOT, "src/platform/engines.ts"))};
    const engines = createEngineRegistry({ libDir: process.argv[2] });
    const out: Record<string, unknown> = { defaultLibDir: defaultLibDir() };
    for (const name of ["onnxruntime", "llama", "datachannel"] as const) {
      out[name] = await engines.load(name).then(() => "loaded", (e: Error) => e.message);
    }
    if (process.argv[3] === "getLlama") {
      const llama = (await engines.load("llama")) as any;
      const instance = await llama.getLlama({ gpu: false, progressLogs: false, logLevel: "error" });
      out.getLlama = instance.buildType;
      await instance.dispose();
    }
    console.log(JSON.stringify(out));
  `;
  const entry = join(tmp, "engine-probe.ts");

  test("x64, including llama.cpp's prebuilt-binary check (a fork of the binary)", async () => {
    writeFileSync(entry, probeSource);
    const exe = join(tmp, "probe-x64");
    compile(entry, exe, "x64");
    const res = await exec([exe, join(distDir("x64"), "lib"), "getLlama"], { timeoutMs: 60_000 });
    expect(JSON.parse(res.stdout)).toEqual({
      defaultLibDir: join(tmp, "lib"),
      onnxruntime: "loaded",
      llama: "loaded",
      datachannel: "loaded",
      getLlama: "prebuilt",
    });
  }, 90_000);

  // qemu-user shows the x86 host's /proc/cpuinfo, on which onnxruntime's cpuinfo init crashes; a
  // private mount namespace gives it a Cortex-A72 one. That needs root. qemu-user without binfmt
  // cannot run the fork getLlama makes, so getLlama itself is only checked on x64.
  test("arm64 under qemu with a Cortex-A72 /proc/cpuinfo", async () => {
    if (process.getuid?.() !== 0) {
      throw new Error(
        "this test needs root (a private mount namespace for /proc/cpuinfo); run scripts/test as root",
      );
    }
    requireQemu();
    writeFileSync(entry, probeSource);
    const exe = join(tmp, "probe-arm64");
    compile(entry, exe, "arm64");
    const cpu =
      "processor\t: 0\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n";
    const cpuinfo = join(tmp, "cpuinfo-a72");
    writeFileSync(cpuinfo, `${cpu}${cpu.replace("processor\t: 0", "processor\t: 1")}`);
    const inner = [...QEMU, exe, join(distDir("arm64"), "lib")].map((a) => `'${a}'`).join(" ");
    const res = await exec(
      ["unshare", "-m", "sh", "-c", `mount --bind '${cpuinfo}' /proc/cpuinfo && exec ${inner}`],
      {
        timeoutMs: 120_000,
      },
    );
    expect(res.stderr.slice(-2000)).not.toContain("panic");
    expect(JSON.parse(res.stdout)).toMatchObject({
      onnxruntime: "loaded",
      llama: "loaded",
      datachannel: "loaded",
    });
  }, 150_000);
});

describe("manifest.json", () => {
  for (const arch of ["x64", "arm64"] as const) {
    test(`${arch}: every file is listed with its sha256 and size, nothing else`, async () => {
      const dir = distDir(arch);
      const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as {
        version: string;
        arch: string;
        bun: string;
        files: Record<string, { sha256: string; size: number }>;
      };
      expect(manifest).toMatchObject({ version: pkg.version, arch, bun: Bun.version });
      const onDisk = [...new Bun.Glob("**/*").scanSync({ cwd: dir, dot: true })].filter(
        (f) => f !== "manifest.json",
      );
      expect(Object.keys(manifest.files).sort()).toEqual(onDisk.sort());
      for (const [rel, want] of Object.entries(manifest.files)) {
        expect({ rel, sha256: await sha256File(join(dir, rel)) }).toEqual({ rel, sha256: want.sha256 });
      }
      // Native code for another platform, arch or GPU stack would only make the folder bigger.
      const natives = Object.keys(manifest.files).filter((f) => /\.(node|so(\.\d+)*|dylib|dll)$/.test(f));
      const foreign = arch === "x64" ? /arm64|darwin|win32|cuda/ : /x64|darwin|win32|cuda|vulkan/;
      expect(natives.length).toBeGreaterThan(3);
      expect(natives.filter((f) => foreign.test(f))).toEqual([]);
    }, 60_000);
  }
});
