// The image plan as pure values: partition layout and its sfdisk script, the files that decide how a
// board boots (config.txt, cmdline.txt, fstab) and the Raspberry Pi Imager manifest. images/build
// writes what these return; the tests check them without building anything.
import type { Board } from "./rootfs.ts";

export const MiB = 1024 * 1024;
export const SECTOR = 512;

export const LABELS = {
  boot: "KIANA-BOOT",
  rootA: "KIANA-ROOTA",
  rootB: "KIANA-ROOTB",
  data: "KIANA-DATA",
} as const;

/** Where each partition is mounted; rootB is an empty slot for a later whole-OS A/B update. */
export const MOUNTS = { boot: "/boot/firmware", data: "/var/lib/kiana" } as const;

export interface Partition {
  name: "boot" | "rootA" | "rootB" | "data";
  /** MBR partition type: c = FAT32 (LBA), 83 = Linux. */
  type: "c" | "83";
  label: string;
  startMiB: number;
  sizeMiB: number;
  /** false: left unformatted (zeros) in the image. */
  format: "vfat" | "ext4" | null;
}

export interface Layout {
  partitions: Partition[];
  totalMiB: number;
}

export interface LayoutInput {
  /** Bytes used by the root file system's files (du --apparent-size is close enough). */
  rootUsedBytes: number;
  /** Bytes of one kiana runtime bundle: the root keeps room for a second version beside it. */
  bundleBytes: number;
  bootMiB?: number;
  dataMiB?: number;
}

export const FIRST_MiB = 4;
const round = (n: number, step: number) => Math.ceil(n / step) * step;

/**
 * Boot (FAT), two root slots of the same size (A holds the system, B stays empty for a later A/B
 * update of the whole OS) and the data partition last, so that first boot can grow it to the card.
 * MBR, because the Pi 4's boot ROM and older EEPROMs read only MBR.
 */
export function planLayout(input: LayoutInput): Layout {
  const bootMiB = input.bootMiB ?? 256;
  const dataMiB = input.dataMiB ?? 256;
  // ext4 metadata and reserved blocks, room for a second runtime version (A/B runtime update under
  // /opt/kiana/<version>) and for package updates.
  const rootMiB = round((input.rootUsedBytes * 1.25 + 2 * input.bundleBytes) / MiB + 256, 128);
  let at = FIRST_MiB;
  const part = (
    name: Partition["name"],
    type: Partition["type"],
    label: string,
    sizeMiB: number,
    format: Partition["format"],
  ): Partition => {
    const p = { name, type, label, startMiB: at, sizeMiB, format };
    at += sizeMiB;
    return p;
  };
  const partitions = [
    part("boot", "c", LABELS.boot, bootMiB, "vfat"),
    part("rootA", "83", LABELS.rootA, rootMiB, "ext4"),
    part("rootB", "83", LABELS.rootB, rootMiB, null),
    part("data", "83", LABELS.data, dataMiB, "ext4"),
  ];
  return { partitions, totalMiB: at };
}

/** The sfdisk script that writes `layout`'s MBR partition table (`sfdisk image.img < script`). */
export function sfdiskScript(layout: Layout): string {
  const lines = ["label: dos", "unit: sectors", ""];
  for (const p of layout.partitions) {
    const start = (p.startMiB * MiB) / SECTOR;
    const size = (p.sizeMiB * MiB) / SECTOR;
    lines.push(`start=${start}, size=${size}, type=${p.type}${p.name === "boot" ? ", bootable" : ""}`);
  }
  return `${lines.join("\n")}\n`;
}

export interface FstabOptions {
  /** Mount / read-only (the image is laid out for it; writes then go to the data partition and tmpfs). */
  readOnlyRoot?: boolean;
}

/** /etc/fstab: noatime everywhere, state on the data partition, /tmp in RAM (not noexec: Bun extracts addons there). */
export function renderFstab(o: FstabOptions = {}): string {
  const rootOpts = o.readOnlyRoot ? "ro,noatime" : "noatime,errors=remount-ro";
  return [
    "# kiana image: / holds the OS and /opt/kiana/<version>; everything that changes lives on KIANA-DATA.",
    "# <file system>       <mount point>    <type> <options>                                  <dump> <pass>",
    `LABEL=${LABELS.rootA}    /                ext4   ${rootOpts}                           0 1`,
    `LABEL=${LABELS.boot}     ${MOUNTS.boot}   vfat   noatime,umask=0077,nofail                 0 2`,
    `LABEL=${LABELS.data}     ${MOUNTS.data}   ext4   noatime,x-systemd.growfs                  0 2`,
    "tmpfs                  /tmp             tmpfs  nosuid,nodev,mode=1777,size=25%          0 0",
    "",
  ].join("\n");
}

export interface BootFiles {
  /** Kernel release, e.g. 6.1.0-30-arm64. */
  kernelVersion: string;
}

/** The kernel command line both boards use; the Pi adds its consoles. */
export function kernelCmdline(board: Board): string {
  const common = [`root=LABEL=${LABELS.rootA}`, "rootfstype=ext4", "rootwait", "ro", "fsck.repair=yes"];
  const consoles = board === "rpi" ? ["console=tty0", "console=ttyS1,115200"] : ["console=ttyAMA0"];
  return [...consoles, ...common, "net.ifnames=0"].join(" ");
}

/** cmdline.txt on the Pi's boot partition: one line. */
export function renderCmdlineTxt(): string {
  return `${kernelCmdline("rpi")}\n`;
}

/**
 * config.txt for a Pi 4/5 running Debian's arm64 kernel: 64-bit mode, the upstream device trees
 * copied beside it, the kernel and its initramfs named explicitly.
 */
export function renderConfigTxt(b: BootFiles): string {
  return [
    "# kiana image for Raspberry Pi 4 / 5 (Debian bookworm arm64 kernel). Written by images/build.",
    "arm_64bit=1",
    "enable_uart=1",
    "upstream_kernel=1",
    "disable_overscan=1",
    `kernel=vmlinuz-${b.kernelVersion}`,
    `initramfs initrd.img-${b.kernelVersion} followkernel`,
    "",
    "[pi4]",
    "max_framebuffers=2",
    "arm_boost=1",
    "",
    "[all]",
    "# Audio for the satellite role (3.5 mm jack / HDMI).",
    "dtparam=audio=on",
    "",
  ].join("\n");
}

/** Files that must be on the Pi's boot partition for it to start; checked after every rpi build. */
export function requiredBootFiles(board: Board, b: BootFiles): string[] {
  if (board !== "rpi") return [];
  return [
    "config.txt",
    "cmdline.txt",
    "start4.elf",
    "fixup4.dat",
    "bcm2711-rpi-4-b.dtb",
    `vmlinuz-${b.kernelVersion}`,
    `initrd.img-${b.kernelVersion}`,
  ];
}

export interface ManifestInput {
  board: Board;
  version: string;
  /** URL (or file name next to the manifest) of the image. */
  url: string;
  extractSize: number;
  extractSha256: string;
  downloadSize: number;
  releaseDate: string;
  /** Imager device tags (pi4-64bit, pi5-64bit): only the boards whose device tree the image carries. */
  devices: string[];
}

/** Imager's device tag for each device tree the Pi image may carry. */
export const PI_DEVICE_TREES: Record<string, string> = {
  "bcm2711-rpi-4-b.dtb": "pi4-64bit",
  "bcm2711-rpi-400.dtb": "pi4-64bit",
  "bcm2711-rpi-cm4-io.dtb": "pi4-64bit",
  "bcm2712-rpi-5-b.dtb": "pi5-64bit",
};

/** The Imager device tags an image with these boot files supports. */
export function imagerDevices(bootFiles: readonly string[]): string[] {
  const tags = new Set(bootFiles.flatMap((f) => (PI_DEVICE_TREES[f] ? [PI_DEVICE_TREES[f] as string] : [])));
  return ["pi5-64bit", "pi4-64bit"].filter((t) => tags.has(t));
}

/** Raspberry Pi Imager's os_list JSON for one image ("Use custom" or a repository URL). */
export function renderImagerManifest(m: ManifestInput): string {
  return `${JSON.stringify(
    {
      os_list: [
        {
          name: `kiana ${m.version} (${m.board === "rpi" ? (m.devices.includes("pi5-64bit") ? "Raspberry Pi 4/5" : "Raspberry Pi 4") : "generic arm64"})`,
          description:
            "Private, offline AI assistant node: Debian bookworm arm64 with the kiana runtime. " +
            "Boot it, then open http://<device>:8080/ on your LAN.",
          url: m.url,
          extract_size: m.extractSize,
          extract_sha256: m.extractSha256,
          image_download_size: m.downloadSize,
          release_date: m.releaseDate,
          devices: m.devices,
        },
      ],
    },
    null,
    2,
  )}\n`;
}

/** Where a file from the repository's systemd/ folder goes in the image, or null when it does not. */
export function unitInstallPath(rel: string): string | null {
  const parts = rel.split("/");
  const [top, file] = parts;
  if (parts.length === 1 && top && /\.(service|socket|timer|path|target|mount)$/.test(top))
    return `usr/lib/systemd/system/${top}`;
  if (parts.length === 2 && top === "sysusers.d" && file?.endsWith(".conf"))
    return `usr/lib/sysusers.d/${file}`;
  if (parts.length === 2 && top === "tmpfiles.d" && file?.endsWith(".conf"))
    return `usr/lib/tmpfiles.d/${file}`;
  // kiana.service.d/ holds role drop-ins that `kiana firstboot` installs for the roles that need
  // them; every other unit's drop-in folder applies on every device.
  if (parts.length === 2 && top?.endsWith(".d") && top !== "kiana.service.d" && file?.endsWith(".conf"))
    return `usr/lib/systemd/system/${top}/${file}`;
  return null;
}
