// images/build: a bootable kiana SD-card image for a board. Stages: the Debian rootfs (mmdebstrap
// through qemu-user, cached as a tarball keyed by its recipe), the kiana layer on top (runtime bundle,
// units, fstab), the boot partition, then the disk image, its sha256 and an Imager manifest.
// Usage: images/build --board rpi|generic-arm64 [--out DIR] [--rebuild-rootfs]
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { assembleImage, ImageError, readTable, sh } from "./assemble.ts";
import {
  imagerDevices,
  LABELS,
  PI_DEVICE_TREES,
  planLayout,
  renderCmdlineTxt,
  renderConfigTxt,
  renderFstab,
  renderImagerManifest,
  requiredBootFiles,
  unitInstallPath,
} from "./plan.ts";
import { BOARDS, type Board, mmdebstrapArgs, packagesFor, rootfsKey } from "./rootfs.ts";

const IMAGES = import.meta.dir;
const ROOT = join(IMAGES, "..");
const CACHE = join(IMAGES, "cache");

const started = performance.now();
function stage(what: string): void {
  const s = ((performance.now() - started) / 1000).toFixed(1).padStart(7);
  console.log(`[${s}s] ${what}`);
}

/** Units from systemd/ that the image enables (when the file exists), plus the image's own. */
const ENABLE = [
  "kiana.service",
  "kiana-firstboot.service",
  "kiana-ssh-keygen.service",
  "kiana-grow-data.service",
  "kiana-console-ready.service",
  "systemd-networkd.service",
  "systemd-resolved.service",
  "systemd-timesyncd.service",
];

function folderBytes(dir: string): number {
  return Number(sh(["du", "-sb", "--apparent-size", dir]).split(/\s/)[0]);
}

/** The Debian layer: reused from images/cache when the recipe is unchanged. */
function ensureRootfs(board: Board, rebuild: boolean): string {
  const key = rootfsKey(board);
  const tar = join(CACHE, `rootfs-${board}-${key}.tar`);
  if (existsSync(tar) && !rebuild) {
    stage(`rootfs: cached ${basename(tar)} (${(statSync(tar).size / 2 ** 20).toFixed(0)} MiB)`);
    return tar;
  }
  stage(`rootfs: mmdebstrap bookworm arm64 (key ${key}; under qemu-user this takes 10+ minutes)`);
  mkdirSync(CACHE, { recursive: true });
  const partial = `${tar}.partial`;
  rmSync(partial, { force: true });
  const args = mmdebstrapArgs({ board, packages: packagesFor(board), output: partial, mode: "root" });
  const res = Bun.spawnSync(args, { stdout: "inherit", stderr: "inherit" });
  if (res.exitCode !== 0) throw new ImageError(`mmdebstrap failed (exit ${res.exitCode})`);
  renameSync(partial, tar);
  // One tarball per board: older recipes are dead weight.
  for (const f of readdirSync(CACHE))
    if (f.startsWith(`rootfs-${board}-`) && f !== basename(tar)) rmSync(join(CACHE, f), { force: true });
  stage(`rootfs: built ${basename(tar)} (${(statSync(tar).size / 2 ** 20).toFixed(0)} MiB)`);
  return tar;
}

interface Bundle {
  dir: string;
  version: string;
}

function ensureBundle(): Bundle {
  const dir = join(ROOT, "dist", "kiana-linux-arm64");
  if (!existsSync(join(dir, "kiana")) || !existsSync(join(dir, "manifest.json"))) {
    stage("bundle: dist/kiana-linux-arm64 missing, running scripts/build --arch arm64");
    const res = Bun.spawnSync([join(ROOT, "scripts", "build"), "--arch", "arm64"], {
      stdout: "inherit",
      stderr: "inherit",
    });
    if (res.exitCode !== 0) throw new ImageError("scripts/build --arch arm64 failed");
  }
  const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as {
    version: string;
    arch: string;
  };
  if (manifest.arch !== "arm64")
    throw new ImageError(`${dir}/manifest.json is for ${manifest.arch}, not arm64`);
  return { dir, version: manifest.version };
}

function kernelVersion(root: string): string {
  const kernels = readdirSync(join(root, "boot"))
    .filter((f) => f.startsWith("vmlinuz-"))
    .map((f) => f.slice("vmlinuz-".length))
    .sort();
  const v = kernels.at(-1);
  if (!v) throw new ImageError("the rootfs has no /boot/vmlinuz-*: linux-image-arm64 did not install");
  if (!existsSync(join(root, "boot", `initrd.img-${v}`)))
    throw new ImageError(`the rootfs has no /boot/initrd.img-${v}: initramfs generation failed`);
  return v;
}

/** Installs the runtime, the units and the image's settings into the extracted rootfs. */
function customize(root: string, board: Board, bundle: Bundle): void {
  // mmdebstrap leaves the downloaded .debs in the root-mode tarball: 100+ MiB the card never needs.
  for (const dir of ["archives", "archives/partial"]) {
    const at = join(root, "var", "cache", "apt", dir);
    if (existsSync(at)) for (const f of readdirSync(at)) if (f.endsWith(".deb")) rmSync(join(at, f));
  }
  cpSync(join(IMAGES, "overlay"), root, { recursive: true, verbatimSymlinks: true });
  writeFileSync(join(root, "etc", "fstab"), renderFstab());
  mkdirSync(join(root, "var", "lib", "kiana"), { recursive: true });
  mkdirSync(join(root, "etc", "kiana"), { recursive: true });

  // Runtime: /opt/kiana/<version> and the `current` link an A/B runtime update retargets.
  const opt = join(root, "opt", "kiana");
  cpSync(bundle.dir, join(opt, bundle.version), { recursive: true });
  symlinkSync(bundle.version, join(opt, "current"));
  symlinkSync("/opt/kiana/current/kiana", join(root, "usr", "local", "bin", "kiana"));

  // Unit files and drop-ins from systemd/ (owned by that folder; the image only installs them).
  const unitsDir = join(ROOT, "systemd");
  for (const rel of readdirSync(unitsDir, { recursive: true }).map(String)) {
    const to = unitInstallPath(rel);
    if (to === null || !statSync(join(unitsDir, rel)).isFile()) continue;
    mkdirSync(dirname(join(root, to)), { recursive: true });
    cpSync(join(unitsDir, rel), join(root, to));
  }
  // The service user exists in the image already (sysusers would make it at boot, on a writable root).
  const sysusers = readdirSync(join(root, "usr", "lib", "sysusers.d")).filter((f) => f.startsWith("kiana"));
  if (sysusers.length > 0)
    sh([
      "systemd-sysusers",
      `--root=${root}`,
      ...sysusers.map((f) => join(root, "usr", "lib", "sysusers.d", f)),
    ]);
  const target = join(root, "usr", "lib", "systemd", "system");
  const enable = ENABLE.filter(
    (u) => existsSync(join(target, u)) || existsSync(join(root, "etc", "systemd", "system", u)),
  );
  const missing = ENABLE.filter((u) => !enable.includes(u));
  if (missing.length > 0) stage(`customize: not in this build (not written yet): ${missing.join(", ")}`);
  // systemctl --root only edits symlinks under the rootfs; nothing runs inside it.
  sh(["systemctl", `--root=${root}`, "enable", ...enable]);
  // The board checks (hw-tests/) ride along, so `kiana-hw-test` is one command on a flashed card; the
  // kiana binary runs them as Bun (BUN_BE_BUN=1).
  const hw = join(root, "usr", "lib", "kiana-image", "hw-tests");
  mkdirSync(hw, { recursive: true });
  for (const f of readdirSync(join(ROOT, "hw-tests")))
    if ((f.endsWith(".ts") && !f.endsWith(".test.ts")) || f === "run" || f === "README.md")
      cpSync(join(ROOT, "hw-tests", f), join(hw, f));
  symlinkSync("/usr/lib/kiana-image/hw-tests/run", join(root, "usr", "local", "sbin", "kiana-hw-test"));
  if (board === "rpi") {
    // Keeps raspi-firmware's own regeneration (on kernel updates) in line with what we write.
    writeFileSync(
      join(root, "etc", "default", "raspi-firmware"),
      `# kiana image: see images/plan.ts\nROOTPART=LABEL=${LABELS.rootA}\nCONSOLES="tty0 ttyS1,115200"\n`,
    );
  }
}

/** The FAT's contents: for the Pi, firmware + kernel + initramfs + device trees + config.txt. */
function prepareBoot(root: string, bootDir: string, board: Board, kver: string): void {
  mkdirSync(bootDir, { recursive: true });
  const fw = join(root, "boot", "firmware");
  if (board === "rpi") {
    // raspi-firmware's kernel hook already filled /boot/firmware inside the rootfs.
    cpSync(fw, bootDir, { recursive: true });
    const dtbDir = join(root, "usr", "lib", `linux-image-${kver}`, "broadcom");
    for (const dtb of Object.keys(PI_DEVICE_TREES)) {
      const src = join(dtbDir, dtb);
      if (existsSync(src)) cpSync(src, join(bootDir, dtb));
      else stage(`boot: ${dtb} is not in Debian's ${kver} kernel; that board will not boot this image`);
    }
    for (const f of [`vmlinuz-${kver}`, `initrd.img-${kver}`])
      if (!existsSync(join(bootDir, f))) cpSync(join(root, "boot", f), join(bootDir, f));
    writeFileSync(join(bootDir, "config.txt"), renderConfigTxt({ kernelVersion: kver }));
    writeFileSync(join(bootDir, "cmdline.txt"), renderCmdlineTxt());
    const missing = requiredBootFiles(board, { kernelVersion: kver }).filter(
      (f) => !existsSync(join(bootDir, f)),
    );
    if (missing.length > 0) throw new ImageError(`boot partition lacks ${missing.join(", ")}`);
  }
  writeFileSync(
    join(bootDir, "KIANA.TXT"),
    "kiana boot partition. The provisioning script (provisioning/fleet) writes this device's seed here;\r\n" +
      "kiana-firstboot imports it on first boot and removes the secrets from this partition.\r\n",
  );
  // /boot/firmware is a mount point on the running system: its contents live on the FAT.
  rmSync(fw, { recursive: true, force: true });
  mkdirSync(fw);
}

async function sha256File(path: string): Promise<string> {
  const h = new Bun.CryptoHasher("sha256");
  for await (const chunk of Bun.file(path).stream()) h.update(chunk);
  return h.digest("hex");
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      board: { type: "string" },
      out: { type: "string" },
      "rebuild-rootfs": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const usage = "usage: images/build --board rpi|generic-arm64 [--out DIR] [--rebuild-rootfs]";
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const board = values.board as Board;
  if (!BOARDS.includes(board)) {
    console.error(`images/build: --board must be one of ${BOARDS.join(", ")}\n${usage}`);
    return 64;
  }
  if (process.getuid?.() !== 0) {
    console.error("images/build: run as root (mmdebstrap --mode=root, and file ownership in the image)");
    return 1;
  }
  const outDir = values.out ?? join(IMAGES, "out");
  mkdirSync(outDir, { recursive: true });

  const tar = ensureRootfs(board, values["rebuild-rootfs"] ?? false);
  const bundle = ensureBundle();
  stage(`bundle: kiana ${bundle.version} from dist/kiana-linux-arm64`);

  const work = join(CACHE, `work-${board}`);
  const root = join(work, "root");
  const bootDir = join(work, "boot");
  const dataDir = join(work, "data");
  rmSync(work, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  mkdirSync(dataDir);
  stage("rootfs: extracting");
  sh(["tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-xpf", tar, "-C", root]);
  const kver = kernelVersion(root);
  stage(`customize: kiana ${bundle.version}, units, fstab (kernel ${kver})`);
  customize(root, board, bundle);
  stage("boot: preparing the boot partition");
  prepareBoot(root, bootDir, board, kver);

  const layout = planLayout({ rootUsedBytes: folderBytes(root), bundleBytes: folderBytes(bundle.dir) });
  const name = `kiana-${bundle.version}-${board}`;
  const image = join(outDir, `${name}.img`);
  stage(
    `image: ${layout.totalMiB} MiB (${layout.partitions.map((p) => `${p.label} ${p.sizeMiB}M`).join(", ")})`,
  );
  assembleImage({ image: `${image}.partial`, layout, rootDir: root, bootDir, dataDir });
  renameSync(`${image}.partial`, image);
  const table = readTable(image);
  if (table.partitiontable.partitions.length !== layout.partitions.length)
    throw new ImageError(`sfdisk reads ${table.partitiontable.partitions.length} partitions back`);

  stage("checksum and manifest");
  const size = statSync(image).size;
  const sha = await sha256File(image);
  writeFileSync(`${image}.sha256`, `${sha}  ${basename(image)}\n`);
  writeFileSync(
    join(outDir, `${name}.json`),
    renderImagerManifest({
      board,
      version: bundle.version,
      url: basename(image),
      extractSize: size,
      extractSha256: sha,
      downloadSize: size,
      releaseDate: new Date().toISOString().slice(0, 10),
      devices: imagerDevices(readdirSync(bootDir)),
    }),
  );
  writeFileSync(
    join(outDir, `${name}.build.json`),
    `${JSON.stringify({ board, version: bundle.version, kernel: kver, rootfsKey: rootfsKey(board), layout }, null, 2)}\n`,
  );
  rmSync(work, { recursive: true, force: true });
  stage(`done: ${image} (${(size / 2 ** 20).toFixed(0)} MiB, sha256 ${sha.slice(0, 16)}…)`);
  return 0;
}

if (import.meta.main) {
  try {
    process.exit(await main(process.argv.slice(2)));
  } catch (err) {
    console.error(`images/build: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}
