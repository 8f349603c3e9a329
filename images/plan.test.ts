// The build plan as pure values: what partition table, boot files and manifest an image gets, and
// when the cached rootfs is reused. Runs without building anything.
import { describe, expect, test } from "bun:test";
import {
  FIRST_MiB,
  imagerDevices,
  kernelCmdline,
  LABELS,
  MiB,
  planLayout,
  renderCmdlineTxt,
  renderConfigTxt,
  renderFstab,
  renderImagerManifest,
  requiredBootFiles,
  sfdiskScript,
} from "./plan.ts";
import { mmdebstrapArgs, packagesFor, parsePackageList, RECIPE_FILES, rootfsKey } from "./rootfs.ts";

const layout = planLayout({ rootUsedBytes: 900 * MiB, bundleBytes: 150 * MiB });

describe("partition layout", () => {
  test("boot, root A, root B and data, contiguous and MiB-aligned, data last", () => {
    expect(layout.partitions.map((p) => p.label)).toEqual([
      LABELS.boot,
      LABELS.rootA,
      LABELS.rootB,
      LABELS.data,
    ]);
    let at = FIRST_MiB;
    for (const p of layout.partitions) {
      expect(p.startMiB).toBe(at);
      expect(Number.isInteger(p.sizeMiB)).toBe(true);
      at += p.sizeMiB;
    }
    expect(layout.totalMiB).toBe(at);
    expect(layout.partitions.at(-1)?.name).toBe("data");
  });

  test("root slots are equal and leave room for the files, a second runtime version and updates", () => {
    const [, a, b] = layout.partitions;
    expect(a?.sizeMiB).toBe(b?.sizeMiB);
    expect((a?.sizeMiB ?? 0) * MiB).toBeGreaterThan(900 * MiB * 1.25 + 2 * 150 * MiB);
    expect(b?.format).toBeNull();
  });

  test("labels fit their file systems (FAT: 11 upper-case characters, ext4: 16)", () => {
    expect(LABELS.boot.length).toBeLessThanOrEqual(11);
    expect(LABELS.boot as string).toBe(LABELS.boot.toUpperCase());
    for (const l of [LABELS.rootA, LABELS.rootB, LABELS.data]) expect(l.length).toBeLessThanOrEqual(16);
  });

  test("the sfdisk script describes an MBR table with a FAT32 first partition at 4 MiB", () => {
    const script = sfdiskScript(layout);
    expect(script.split("\n")[0]).toBe("label: dos");
    const rows = script.split("\n").filter((l) => l.startsWith("start="));
    expect(rows).toHaveLength(4);
    expect(rows[0]).toBe(`start=${(4 * MiB) / 512}, size=${(256 * MiB) / 512}, type=c, bootable`);
    expect(rows.slice(1).every((r) => r.endsWith("type=83"))).toBe(true);
  });
});

describe("boot files", () => {
  test("config.txt boots Debian's kernel in 64-bit mode with its initramfs", () => {
    const txt = renderConfigTxt({ kernelVersion: "6.1.0-31-arm64" });
    const lines = txt.split("\n");
    expect(lines).toContain("arm_64bit=1");
    expect(lines).toContain("kernel=vmlinuz-6.1.0-31-arm64");
    expect(lines).toContain("initramfs initrd.img-6.1.0-31-arm64 followkernel");
    // Settings before the first [filter] apply to every Pi model.
    expect(lines.indexOf("arm_64bit=1")).toBeLessThan(lines.indexOf("[pi4]"));
  });

  test("cmdline.txt is one line that finds the root by label and waits for the card", () => {
    const txt = renderCmdlineTxt();
    expect(txt.endsWith("\n")).toBe(true);
    expect(txt.trimEnd().includes("\n")).toBe(false);
    expect(txt).toContain(`root=LABEL=${LABELS.rootA}`);
    expect(txt.split(" ")).toContain("rootwait");
    expect(kernelCmdline("generic-arm64")).toContain("console=ttyAMA0");
  });

  test("the Pi's required boot files include its firmware, device tree, kernel and initramfs", () => {
    const files = requiredBootFiles("rpi", { kernelVersion: "6.1.0-31-arm64" });
    expect(files).toEqual(
      expect.arrayContaining(["start4.elf", "bcm2711-rpi-4-b.dtb", "vmlinuz-6.1.0-31-arm64", "config.txt"]),
    );
    expect(requiredBootFiles("generic-arm64", { kernelVersion: "x" })).toEqual([]);
  });

  test("fstab keeps writes off the root: noatime, data partition at /var/lib/kiana, /tmp in RAM", () => {
    const rows = renderFstab()
      .split("\n")
      .filter((l) => l && !l.startsWith("#"))
      .map((l) => l.split(/\s+/));
    const byMount = new Map(rows.map((r) => [r[1], r]));
    expect(byMount.get("/")?.[0]).toBe(`LABEL=${LABELS.rootA}`);
    expect(byMount.get("/var/lib/kiana")?.[0]).toBe(`LABEL=${LABELS.data}`);
    expect(byMount.get("/boot/firmware")?.[0]).toBe(`LABEL=${LABELS.boot}`);
    for (const m of ["/", "/var/lib/kiana", "/boot/firmware"])
      expect(byMount.get(m)?.[3]).toContain("noatime");
    expect(byMount.get("/tmp")?.[2]).toBe("tmpfs");
    // Bun extracts native addons into TMPDIR and dlopens them there.
    expect(byMount.get("/tmp")?.[3]).not.toContain("noexec");
    expect(
      renderFstab({ readOnlyRoot: true })
        .split("\n")
        .find((l) => l.startsWith(`LABEL=${LABELS.rootA}`)),
    ).toContain(" ro,");
  });
});

describe("Imager manifest", () => {
  test("one os_list entry with the fields Raspberry Pi Imager reads", () => {
    const json = JSON.parse(
      renderImagerManifest({
        board: "rpi",
        version: "0.1.0",
        url: "kiana-0.1.0-rpi.img",
        extractSize: 3 * 2 ** 30,
        extractSha256: "a".repeat(64),
        downloadSize: 3 * 2 ** 30,
        releaseDate: "2026-12-04",
        devices: imagerDevices(["bcm2711-rpi-4-b.dtb", "bcm2712-rpi-5-b.dtb", "start4.elf"]),
      }),
    );
    const [entry] = json.os_list;
    expect(json.os_list).toHaveLength(1);
    expect(entry).toMatchObject({
      url: "kiana-0.1.0-rpi.img",
      extract_size: 3 * 2 ** 30,
      extract_sha256: "a".repeat(64),
      image_download_size: 3 * 2 ** 30,
      release_date: "2026-12-04",
      devices: ["pi5-64bit", "pi4-64bit"],
    });
    expect(entry.name).toContain("0.1.0");
    // A board is offered only when the image carries its device tree.
    expect(imagerDevices(["bcm2711-rpi-4-b.dtb", "config.txt"])).toEqual(["pi4-64bit"]);
    expect(imagerDevices([])).toEqual([]);
    expect(entry.description.length).toBeGreaterThan(20);
  });
});

describe("rootfs recipe", () => {
  test("package lists ignore comments and blank lines", () => {
    expect(parsePackageList("# c\nfoo # why\n\n  bar\n")).toEqual(["foo", "bar"]);
  });

  test("the Pi gets its firmware and kernel; the generic image does not get the Pi firmware", () => {
    const rpi = packagesFor("rpi");
    const generic = packagesFor("generic-arm64");
    for (const p of ["raspi-firmware", "linux-image-arm64", "firmware-brcm80211"]) expect(rpi).toContain(p);
    expect(generic).not.toContain("raspi-firmware");
    for (const p of [
      "linux-image-arm64",
      "mosquitto",
      "avahi-daemon",
      "espeak-ng",
      "pocketsphinx",
      "pocketsphinx-en-us",
      "alsa-utils",
      "openssh-server",
      "systemd-sysv",
    ])
      expect(generic).toContain(p);
  });

  test("mmdebstrap builds bookworm arm64 with non-free-firmware and the image's hooks", () => {
    const args = mmdebstrapArgs({
      board: "rpi",
      packages: packagesFor("rpi"),
      output: "o.tar",
      mode: "root",
    });
    expect(args).toContain("--architectures=arm64");
    expect(args).toContain("bookworm");
    expect(args.some((a) => a.startsWith("--setup-hook=") && a.endsWith("setup.sh"))).toBe(true);
    expect(args.find((a) => a.startsWith("--include="))).toContain("raspi-firmware");
    expect(args.filter((a) => a.startsWith("deb ")).every((a) => a.includes("non-free-firmware"))).toBe(true);
  });

  test("the cache key changes with the package list and the hooks, and only then", () => {
    const files: Record<string, string> = Object.fromEntries(
      [...RECIPE_FILES, "packages-rpi.txt", "packages-generic-arm64.txt"].map((f) => [f, `${f} v1\n`]),
    );
    const read = (f: string) => files[f] ?? "";
    const base = rootfsKey("rpi", read);
    expect(rootfsKey("rpi", read)).toBe(base);
    expect(rootfsKey("generic-arm64", read)).not.toBe(base);
    files["packages-rpi.txt"] = "raspi-firmware\nnano\n";
    const afterList = rootfsKey("rpi", read);
    expect(afterList).not.toBe(base);
    files["setup.sh"] = "#!/bin/sh\necho changed\n";
    expect(rootfsKey("rpi", read)).not.toBe(afterList);
    // Another board's list is not part of this board's recipe.
    const before = rootfsKey("rpi", read);
    files["packages-generic-arm64.txt"] = "something-else\n";
    expect(rootfsKey("rpi", read)).toBe(before);
  });
});
