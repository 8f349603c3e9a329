import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type FileReader,
  type HardwareProfile,
  parseThrottled,
  profileFromFiles,
  readHardwareProfile,
  summarizeProfile,
} from "./hardware-profile.ts";

const fixture = (name: string) =>
  readHardwareProfile({ root: join(import.meta.dir, "fixtures", name), useSysteminformation: false });

/** A FileReader over a map of absolute paths; directories are implied by the paths. */
function memoryReader(files: Record<string, string>): FileReader {
  return {
    readText: (path) => files[path] ?? null,
    list: (dir) => {
      const prefix = `${dir.replace(/\/$/, "")}/`;
      const names = Object.keys(files)
        .filter((p) => p.startsWith(prefix))
        .map((p) => p.slice(prefix.length).split("/")[0] ?? "");
      return [...new Set(names)].sort();
    },
  };
}

const GiB = 2 ** 30;

describe("fixture boards", () => {
  test("Raspberry Pi 4: BCM2711, four Cortex-A72 without dotprod or fp16", async () => {
    const p = await fixture("rpi4");
    expect(p.board).toEqual({ kind: "raspberry-pi-4", model: "Raspberry Pi 4 Model B Rev 1.2" });
    expect(p.soc).toBe("BCM2711");
    expect(p.arch).toBe("arm64");
    expect(p.cpu).toMatchObject({ cores: 4, model: "Cortex-A72", dotprod: false, fp16: false, avx2: false });
    expect(p.memory.totalBytes / GiB).toBeCloseTo(3.7, 1);
    expect(p.jetson).toBeNull();
    expect(p.accelerators).toEqual({ cuda: null, vulkan: [], npus: [] });
    expect(p.thermal.throttled).toEqual({ now: false, sinceBoot: false, raw: "0" });
    expect(p.pageSizeBytes).toBe(4096);
  });

  test("Raspberry Pi 5: BCM2712, Cortex-A76 with dotprod and fp16, 16 KiB pages", async () => {
    const p = await fixture("rpi5");
    expect(p.board).toEqual({ kind: "raspberry-pi-5", model: "Raspberry Pi 5 Model B Rev 1.0" });
    expect(p.soc).toBe("BCM2712");
    expect(p.cpu).toMatchObject({ cores: 4, model: "Cortex-A76", dotprod: true, fp16: true });
    expect(p.cpu.features).toContain("asimddp");
    expect(p.memory.totalBytes / GiB).toBeCloseTo(7.9, 1);
    expect(p.memory.availableBytes / GiB).toBeCloseTo(6.1, 1);
    expect(p.thermal.maxCelsius).toBe(52.3);
    expect(p.pageSizeBytes).toBe(16384);
  });

  test("Jetson Orin Nano: Tegra234, L4T release, CUDA with unified memory, Vulkan ICD", async () => {
    const p = await fixture("jetson-orin-nano");
    expect(p.board).toEqual({ kind: "jetson-orin", model: "NVIDIA Jetson Orin Nano Developer Kit" });
    expect(p.soc).toBe("Tegra234");
    expect(p.arch).toBe("arm64");
    expect(p.cpu).toMatchObject({ cores: 6, model: "Cortex-A78AE", dotprod: true, fp16: true });
    expect(p.jetson).toEqual({ release: "R36.4.0" });
    expect(p.accelerators.cuda).toEqual({ devices: ["/dev/nvgpu/igpu0"], unifiedMemory: true });
    expect(p.accelerators.vulkan).toEqual(["nvidia_icd.json"]);
    expect(p.accelerators.npus).toEqual([]);
    expect(p.thermal.zones.map((z) => z.name)).toContain("gpu-thermal");
    expect(p.thermal.maxCelsius).toBeCloseTo(47.968, 3);
  });

  test("x86-64 PC: DMI model, avx2, two thermal zones, no GPU", async () => {
    const p = await fixture("x86-64-pc");
    expect(p.board).toEqual({ kind: "x86-64", model: "Dell Inc. OptiPlex 7040" });
    expect(p.soc).toBeNull();
    expect(p.arch).toBe("x64");
    expect(p.cpu).toMatchObject({ cores: 4, avx2: true, dotprod: false, fp16: false });
    expect(p.cpu.model).toContain("i5-6500");
    expect(p.memory.totalBytes / GiB).toBeCloseTo(15.5, 1);
    expect(p.thermal.zones).toEqual([
      { name: "acpitz", celsius: 27.8 },
      { name: "x86_pkg_temp", celsius: 41 },
    ]);
    expect(p.accelerators).toEqual({ cuda: null, vulkan: [], npus: [] });
  });
});

describe("other hardware", () => {
  test("Hailo and RKNPU device nodes are listed as NPUs, a discrete NVIDIA GPU as CUDA", () => {
    const p = profileFromFiles(
      memoryReader({ "/dev/hailo0": "", "/dev/rknpu": "", "/dev/nvidia0": "", "/dev/nvidiactl": "" }),
    );
    expect(p.accelerators.npus).toEqual([
      { kind: "hailo", device: "/dev/hailo0" },
      { kind: "rknpu", device: "/dev/rknpu" },
    ]);
    expect(p.accelerators.cuda).toEqual({ devices: ["/dev/nvidia0"], unifiedMemory: false });
  });

  test("throttling bits: current versus since boot", () => {
    expect(parseThrottled("50005\n")).toEqual({ now: true, sinceBoot: true, raw: "50005" });
    expect(parseThrottled("0x50000")).toEqual({ now: false, sinceBoot: true, raw: "0x50000" });
    expect(parseThrottled("garbage")).toBeNull();
  });

  test("a Pi 5 firmware node under soc@... is found and shown in the summary", () => {
    const read = memoryReader({
      "/proc/device-tree/model": "Raspberry Pi 5 Model B Rev 1.0\0",
      "/sys/class/thermal/thermal_zone0/type": "cpu-thermal\n",
      "/sys/class/thermal/thermal_zone0/temp": "85100\n",
      "/sys/devices/platform/soc@107c000000/soc@107c000000:firmware/get_throttled": "80008\n",
    });
    const p = profileFromFiles(read);
    expect(p.thermal.throttled).toEqual({ now: true, sinceBoot: true, raw: "80008" });
    expect(Object.fromEntries(summarizeProfile(p)).Temperature).toBe("85.1 °C, throttled now");
  });

  test("Zero 2 W and a 32-bit kernel are told apart from the Pi 4 and arm64", () => {
    const p = profileFromFiles(
      memoryReader({
        "/proc/device-tree/model": "Raspberry Pi Zero 2 W Rev 1.0\0",
        "/proc/device-tree/compatible": "raspberrypi,model-zero-2-w\0brcm,bcm2837\0",
        "/proc/cpuinfo":
          "processor\t: 0\nFeatures\t: half thumb fastmult vfp edsp neon\nCPU architecture: 7\n",
      }),
    );
    expect(p.board.kind).toBe("raspberry-pi-zero-2w");
    expect(p.soc).toBe("BCM2837");
    expect(p.arch).toBe("arm");
  });
});

describe("robustness", () => {
  test("an empty tree gives an unknown board with empty fields, without throwing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kiana-hw-"));
    try {
      const p = await readHardwareProfile({ root: dir });
      expect(p.board).toEqual({ kind: "unknown", model: null });
      expect(p).toMatchObject({ soc: null, arch: "unknown", jetson: null, pageSizeBytes: null });
      expect(p.cpu.cores).toBe(0);
      expect(p.memory).toEqual({ totalBytes: 0, availableBytes: 0 });
      expect(p.thermal).toEqual({ zones: [], maxCelsius: null, throttled: null });
      expect(summarizeProfile(p)).toContainEqual(["Board", "unknown"]);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  test("a missing root directory does not throw either", async () => {
    const p = await readHardwareProfile({ root: "/nonexistent/kiana-root" });
    expect(p.board.kind).toBe("unknown");
  });

  test("unreadable thermal zones are skipped instead of reported as 0 °C", () => {
    const p = profileFromFiles(
      memoryReader({
        "/sys/class/thermal/thermal_zone0/type": "bad",
        "/sys/class/thermal/thermal_zone1/temp": "40000",
      }),
    );
    expect(p.thermal.zones).toEqual([{ name: "thermal_zone1", celsius: 40 }]);
  });
});

describe("summarizeProfile", () => {
  const rows = async (name: string) => Object.fromEntries(summarizeProfile(await fixture(name)));

  test("Pi 5 rows read as a user expects", async () => {
    const p: HardwareProfile = await fixture("rpi5");
    expect(summarizeProfile(p)).toEqual([
      ["Board", "Raspberry Pi 5 Model B Rev 1.0"],
      ["SoC", "BCM2712"],
      ["CPU", "4 cores, Cortex-A76, dotprod, fp16"],
      ["Memory", "7.9 GiB (6.1 GiB free)"],
      ["Accelerators", "none"],
      ["Temperature", "52.3 °C"],
    ]);
  });

  test("Jetson shows its L4T release and GPU, the PC its avx2", async () => {
    const jetson = await rows("jetson-orin-nano");
    expect(jetson.L4T).toBe("R36.4.0");
    expect(jetson.Accelerators).toBe("CUDA (unified memory), Vulkan (nvidia_icd.json)");
    const pc = await rows("x86-64-pc");
    expect(pc.CPU).toBe("4 cores, Intel(R) Core(TM) i5-6500 CPU @ 3.20GHz, avx2");
    expect(pc.Temperature).toBe("41.0 °C");
  });
});

test("the real machine has cores and memory", async () => {
  const p = await readHardwareProfile();
  expect(p.cpu.cores).toBeGreaterThan(0);
  expect(p.memory.totalBytes).toBeGreaterThan(0);
});
