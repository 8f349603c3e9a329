// Hardware profile: what board this is and what it can run, read from /proc, /sys, /dev and /etc.
// The core is a pure function over a FileReader so that fixture trees of real boards can test it.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export type BoardKind =
  | "raspberry-pi-5"
  | "raspberry-pi-4"
  | "raspberry-pi-zero-2w"
  | "raspberry-pi"
  | "jetson-orin"
  | "jetson"
  | "generic-arm64"
  | "x86-64"
  | "unknown";

export type Arch = "arm64" | "x64" | "arm" | "unknown";

export interface HardwareProfile {
  board: { kind: BoardKind; model: string | null };
  soc: string | null;
  arch: Arch;
  cpu: {
    cores: number;
    model: string | null;
    features: string[];
    dotprod: boolean;
    fp16: boolean;
    avx2: boolean;
  };
  /** 0 where /proc/meminfo could not be read. */
  memory: { totalBytes: number; availableBytes: number };
  jetson: { release: string } | null;
  accelerators: {
    cuda: { devices: string[]; unifiedMemory: boolean } | null;
    vulkan: string[];
    npus: { kind: "hailo" | "rknpu"; device: string }[];
  };
  thermal: {
    zones: { name: string; celsius: number }[];
    maxCelsius: number | null;
    throttled: { now: boolean; sinceBoot: boolean; raw: string } | null;
  };
  pageSizeBytes: number | null;
}

/** Read access to a filesystem tree; both methods answer null/[] instead of throwing. */
export interface FileReader {
  readText(path: string): string | null;
  list(dir: string): string[];
}

/** Reads files below `root`, so "/proc/cpuinfo" maps to `<root>/proc/cpuinfo`. */
export function createFsReader(root = "/"): FileReader {
  return {
    readText(path) {
      try {
        return readFileSync(join(root, path), "utf8");
      } catch {
        return null;
      }
    },
    list(dir) {
      try {
        return readdirSync(join(root, dir)).sort();
      } catch {
        return [];
      }
    },
  };
}

// ARM cpuinfo has no model name on arm64 kernels; the part number identifies the core.
const ARM_PARTS = new Map<string, string>(
  (
    "d03 Cortex-A53, d04 Cortex-A35, d05 Cortex-A55, d07 Cortex-A57, d08 Cortex-A72, d09 Cortex-A73, " +
    "d0a Cortex-A75, d0b Cortex-A76, d0c Neoverse-N1, d0d Cortex-A77, d40 Neoverse-V1, d41 Cortex-A78, " +
    "d42 Cortex-A78AE, d44 Cortex-X1, d46 Cortex-A510, d47 Cortex-A710, d48 Cortex-X2, d49 Neoverse-N2, d4b Cortex-A78C"
  )
    .split(", ")
    .map((entry) => [`0x${entry.slice(0, 3)}`, entry.slice(4)] as const),
);

function clean(text: string | null): string | null {
  // Device-tree strings end in NUL; sysfs values end in a newline.
  const s = text?.replace(/\0+$/, "").trim();
  return s ? s : null;
}

/** First value of `key : value` in a cpuinfo-style block. */
function field(text: string, key: string): string | null {
  for (const line of text.split("\n")) {
    const i = line.indexOf(":");
    if (i > 0 && line.slice(0, i).trim() === key) return line.slice(i + 1).trim();
  }
  return null;
}

function readCpu(read: FileReader): { arch: Arch; cpu: HardwareProfile["cpu"]; cpuinfoModel: string | null } {
  const info = read.readText("/proc/cpuinfo") ?? "";
  let cores = info.split("\n").filter((l) => /^processor\s*:/.test(l)).length;
  if (cores === 0) cores = countCpuRange(clean(read.readText("/sys/devices/system/cpu/online")));
  const flags = field(info, "flags");
  const armFeatures = field(info, "Features");
  const features = (flags ?? armFeatures ?? "").split(/\s+/).filter(Boolean);
  const has = (f: string) => features.includes(f);
  let arch: Arch = "unknown";
  let model = field(info, "model name");
  if (flags !== null) {
    // A 32-bit x86 kernel lacks "lm"; the runtime ships no such build, so it counts as unknown.
    arch = has("lm") ? "x64" : "unknown";
  } else if (armFeatures !== null) {
    // An ARMv8 core under a 32-bit kernel reports architecture 7, and only arm binaries run there.
    arch = field(info, "CPU architecture") === "8" ? "arm64" : "arm";
    const part = field(info, "CPU part");
    if (field(info, "CPU implementer") === "0x41" && part) model = ARM_PARTS.get(part) ?? model;
  }
  const cpu = {
    cores,
    model,
    features,
    // llama.cpp and onnxruntime pick int8 dot-product kernels from these (VNNI is x86's equivalent).
    dotprod: has("asimddp") || has("avx_vnni") || has("avx512_vnni"),
    fp16: has("asimdhp") || has("fphp") || has("avx512fp16"),
    avx2: has("avx2"),
  };
  return { arch, cpu, cpuinfoModel: field(info, "Model") };
}

function countCpuRange(range: string | null): number {
  if (!range) return 0;
  let n = 0;
  for (const part of range.split(",")) {
    const [a, b] = part.split("-").map(Number);
    if (a === undefined || Number.isNaN(a)) continue;
    n += b === undefined || Number.isNaN(b) ? 1 : b - a + 1;
  }
  return n;
}

function readMemory(read: FileReader): HardwareProfile["memory"] {
  const info = read.readText("/proc/meminfo") ?? "";
  const kib = (key: string) => Number.parseInt(field(info, key) ?? "", 10) * 1024 || 0;
  return { totalBytes: kib("MemTotal"), availableBytes: kib("MemAvailable") };
}

function socName(compatible: string[]): string | null {
  for (const c of compatible) {
    const chip = /^(?:brcm,(bcm\d+)|rockchip,(rk\d+))$/.exec(c);
    if (chip) return (chip[1] ?? chip[2] ?? "").toUpperCase();
    const tegra = /^nvidia,tegra(\d+)$/.exec(c);
    if (tegra) return `Tegra${tegra[1]}`;
  }
  // The SoC is conventionally the last, least specific compatible entry.
  const last = compatible.at(-1);
  return last ? (last.split(",")[1] ?? last) : null;
}

function jetsonRelease(text: string | null): { release: string } | null {
  const first = clean(text?.split("\n")[0] ?? null);
  if (!first) return null;
  const m = /^#\s*R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)/.exec(first);
  return { release: m ? `R${m[1]}.${m[2]}` : first.replace(/^#\s*/, "") };
}

function boardKind(model: string, compatible: string[], jetson: boolean, arch: Arch): BoardKind {
  if (/Raspberry Pi 5|Compute Module 5/.test(model) || compatible.includes("brcm,bcm2712"))
    return "raspberry-pi-5";
  if (/Raspberry Pi 4|Raspberry Pi 400|Compute Module 4/.test(model) || compatible.includes("brcm,bcm2711"))
    return "raspberry-pi-4";
  if (/Raspberry Pi Zero 2/.test(model)) return "raspberry-pi-zero-2w";
  if (/Raspberry Pi/.test(model) || compatible.some((c) => c.startsWith("raspberrypi,")))
    return "raspberry-pi";
  if (compatible.includes("nvidia,tegra234") || /Jetson.*Orin/.test(model)) return "jetson-orin";
  if (jetson || /Jetson/.test(model) || compatible.some((c) => c.startsWith("nvidia,tegra"))) return "jetson";
  if (arch === "arm64") return "generic-arm64";
  if (arch === "x64") return "x86-64";
  return "unknown";
}

function readAccelerators(read: FileReader, jetson: boolean): HardwareProfile["accelerators"] {
  // /dev is only listed, never read: opening a real device node could block or have side effects.
  const dev = read.list("/dev");
  let cuda: HardwareProfile["accelerators"]["cuda"] = null;
  const discrete = dev.filter((n) => /^nvidia\d+$/.test(n)).map((n) => `/dev/${n}`);
  if (discrete.length > 0) cuda = { devices: discrete, unifiedMemory: false };
  else if (jetson) {
    // JetPack 6 exposes the integrated GPU as /dev/nvgpu/igpu0/*, older releases as /dev/nvhost-gpu.
    const igpu = read.list("/dev/nvgpu").includes("igpu0") ? ["/dev/nvgpu/igpu0"] : [];
    const devices = dev.includes("nvhost-gpu") ? [...igpu, "/dev/nvhost-gpu"] : igpu;
    if (devices.length > 0) cuda = { devices, unifiedMemory: true };
  }
  const icds = ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d"].flatMap((d) => read.list(d));
  const vulkan = [...new Set(icds.filter((n) => n.endsWith(".json")))].sort();
  const npus: HardwareProfile["accelerators"]["npus"] = [];
  for (const n of dev) {
    if (/^hailo\d+$/.test(n)) npus.push({ kind: "hailo", device: `/dev/${n}` });
    else if (/^rknpu/.test(n)) npus.push({ kind: "rknpu", device: `/dev/${n}` });
  }
  return { cuda, vulkan, npus };
}

/** Decodes the firmware's get_throttled bitmask (bits 0-3 now, 16-19 since boot). */
export function parseThrottled(raw: string): { now: boolean; sinceBoot: boolean; raw: string } | null {
  const value = Number.parseInt(raw.trim().replace(/^0x/i, ""), 16);
  if (Number.isNaN(value)) return null;
  return { now: (value & 0xf) !== 0, sinceBoot: (value & 0xf0000) !== 0, raw: raw.trim() };
}

function throttledPath(read: FileReader): string | null {
  const fixed = "/sys/devices/platform/soc/soc:firmware/get_throttled";
  if (read.readText(fixed) !== null) return fixed;
  // Pi 5 puts the firmware node under a bus with an address in its name (soc@107c000000).
  for (const bus of read.list("/sys/devices/platform").filter((n) => n.startsWith("soc"))) {
    const fw = read.list(`/sys/devices/platform/${bus}`).find((n) => n.endsWith(":firmware"));
    if (fw) return `/sys/devices/platform/${bus}/${fw}/get_throttled`;
  }
  return null;
}

/** Thermal zones and throttling; exported for system-stats, which samples them repeatedly. */
export function readThermal(read: FileReader): HardwareProfile["thermal"] {
  const zones: { name: string; celsius: number }[] = [];
  const dirs = read.list("/sys/class/thermal").filter((n) => /^thermal_zone\d+$/.test(n));
  dirs.sort((a, b) => Number(a.slice(12)) - Number(b.slice(12)));
  for (const dir of dirs) {
    // Some zones answer EIO or nonsense while their sensor is off; skip those rather than report 0 °C.
    const milli = Number.parseInt(read.readText(`/sys/class/thermal/${dir}/temp`) ?? "", 10);
    if (Number.isNaN(milli) || milli <= -273000) continue;
    zones.push({
      name: clean(read.readText(`/sys/class/thermal/${dir}/type`)) ?? dir,
      celsius: milli / 1000,
    });
  }
  const maxCelsius = zones.length > 0 ? Math.max(...zones.map((z) => z.celsius)) : null;
  const path = throttledPath(read);
  const raw = path ? read.readText(path) : null;
  return { zones, maxCelsius, throttled: raw === null ? null : parseThrottled(raw) };
}

function pageSize(read: FileReader): number | null {
  const m = /^KernelPageSize:\s*(\d+)\s*kB/m.exec(read.readText("/proc/self/smaps") ?? "");
  return m ? Number(m[1]) * 1024 : null;
}

/** Builds the profile from whatever files exist; missing files leave fields null, 0 or empty. */
export function profileFromFiles(read: FileReader): HardwareProfile {
  const compatible = (read.readText("/proc/device-tree/compatible") ?? "").split("\0").filter(Boolean);
  const { arch, cpu, cpuinfoModel } = readCpu(read);
  const dmi = [
    clean(read.readText("/sys/class/dmi/id/sys_vendor")),
    clean(read.readText("/sys/class/dmi/id/product_name")),
  ];
  const dmiModel = dmi.filter((s): s is string => s !== null).join(" ") || null;
  const model = clean(read.readText("/proc/device-tree/model")) ?? cpuinfoModel ?? dmiModel;
  const jetson = jetsonRelease(read.readText("/etc/nv_tegra_release"));
  return {
    board: { kind: boardKind(model ?? "", compatible, jetson !== null, arch), model },
    soc: socName(compatible),
    arch,
    cpu,
    memory: readMemory(read),
    jetson,
    accelerators: readAccelerators(read, jetson !== null),
    thermal: readThermal(read),
    pageSizeBytes: pageSize(read),
  };
}

export interface ReadHardwareProfileOptions {
  /** Filesystem root to read; fixture trees in tests. */
  root?: string;
  /** Fill gaps from systeminformation; on by default only for the real root "/". */
  useSysteminformation?: boolean;
}

/** Reads the profile of this machine (or of a tree under `root`); never throws. */
export async function readHardwareProfile(opts: ReadHardwareProfileOptions = {}): Promise<HardwareProfile> {
  const root = opts.root ?? "/";
  const profile = profileFromFiles(createFsReader(root));
  if (!(opts.useSysteminformation ?? root === "/")) return profile;
  const missingCpu = profile.cpu.model === null || profile.cpu.cores === 0;
  if (profile.board.model === null || missingCpu || profile.memory.totalBytes === 0) {
    await fillFromSysteminformation(profile);
  }
  return profile;
}

async function fillFromSysteminformation(p: HardwareProfile): Promise<void> {
  try {
    // Lazy: systeminformation spawns helpers on some calls and is not needed when /proc answers.
    const si = await import("systeminformation");
    if (p.board.model === null) {
      const sys = await si.system();
      p.board.model =
        [sys.manufacturer, sys.model].filter((s) => s && s !== "Default string").join(" ") || null;
    }
    if (p.cpu.model === null || p.cpu.cores === 0) {
      const cpu = await si.cpu();
      p.cpu.model ??= [cpu.manufacturer, cpu.brand].filter(Boolean).join(" ") || null;
      if (p.cpu.cores === 0) p.cpu.cores = cpu.cores;
    }
    if (p.memory.totalBytes === 0) {
      const mem = await si.mem();
      p.memory = { totalBytes: mem.total, availableBytes: mem.available };
    }
  } catch {
    // The profile from files stands on its own; systeminformation only polishes it.
  }
}

const KIND_LABELS: Record<BoardKind, string> = {
  "raspberry-pi-5": "Raspberry Pi 5",
  "raspberry-pi-4": "Raspberry Pi 4",
  "raspberry-pi-zero-2w": "Raspberry Pi Zero 2 W",
  "raspberry-pi": "Raspberry Pi",
  "jetson-orin": "NVIDIA Jetson Orin",
  jetson: "NVIDIA Jetson",
  "generic-arm64": "ARM64 board",
  "x86-64": "x86-64 PC",
  unknown: "unknown",
};

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;

/** Short human rows for `kiana status` and the admin page. */
export function summarizeProfile(p: HardwareProfile): [label: string, value: string][] {
  const rows: [string, string][] = [["Board", p.board.model ?? KIND_LABELS[p.board.kind]]];
  rows.push(["SoC", p.soc ?? "unknown"]);
  if (p.jetson) rows.push(["L4T", p.jetson.release]);
  const cpuFlags = [p.cpu.dotprod && "dotprod", p.cpu.fp16 && "fp16", p.cpu.avx2 && "avx2"].filter(
    (s): s is string => typeof s === "string",
  );
  const cpu = [p.cpu.cores > 0 ? `${p.cpu.cores} cores` : null, p.cpu.model, ...cpuFlags].filter(Boolean);
  rows.push(["CPU", cpu.length > 0 ? cpu.join(", ") : "unknown"]);
  const { totalBytes, availableBytes } = p.memory;
  rows.push(["Memory", totalBytes > 0 ? `${gib(totalBytes)} (${gib(availableBytes)} free)` : "unknown"]);
  const acc: string[] = [];
  const { cuda, vulkan, npus } = p.accelerators;
  if (cuda) acc.push(cuda.unifiedMemory ? "CUDA (unified memory)" : `CUDA × ${cuda.devices.length}`);
  if (vulkan.length > 0) acc.push(`Vulkan (${vulkan.join(", ")})`);
  for (const npu of npus) acc.push(`${npu.kind === "hailo" ? "Hailo" : "RKNPU"} ${npu.device}`);
  rows.push(["Accelerators", acc.length > 0 ? acc.join(", ") : "none"]);
  const { maxCelsius, throttled } = p.thermal;
  let temp = maxCelsius === null ? "unknown" : `${maxCelsius.toFixed(1)} °C`;
  if (throttled?.now) temp += ", throttled now";
  else if (throttled?.sinceBoot) temp += ", throttled since boot";
  rows.push(["Temperature", temp]);
  return rows;
}
