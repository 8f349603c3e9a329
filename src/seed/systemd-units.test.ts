// The unit files in systemd/ as the image installs them: `systemd-analyze verify` must be clean
// and kiana.service's `security` exposure at most 2.5, with and without the satellite drop-in.
import { expect, test } from "bun:test";
import { chmodSync, cpSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../identity/test-fleet.test-helper.ts";
import { SATELLITE_DROP_IN } from "./system-files.ts";

const UNITS = join(import.meta.dir, "../../systemd");
const ANALYZE = "/usr/bin/systemd-analyze";

function analyze(args: string[]): { code: number; out: string } {
  if (!existsSync(ANALYZE))
    throw new Error(`${ANALYZE} is missing: install the Debian package "systemd" to check the unit files`);
  const p = Bun.spawnSync([ANALYZE, ...args], { stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode ?? 1, out: `${p.stdout}${p.stderr}` };
}

/** A root with the system's own units (targets verify resolves) plus ours, and stand-in binaries. */
function imageRoot(withDropIns: boolean): string {
  const root = tempDir("kiana-units-");
  mkdirSync(join(root, "usr/lib/systemd"), { recursive: true });
  cpSync("/lib/systemd/system", join(root, "usr/lib/systemd/system"), {
    recursive: true,
    verbatimSymlinks: true,
  });
  const etc = join(root, "etc/systemd/system");
  mkdirSync(etc, { recursive: true });
  for (const f of ["kiana.service", "kiana-firstboot.service"]) cpSync(join(UNITS, f), join(etc, f));
  if (withDropIns) {
    cpSync(join(UNITS, "kiana.service.d"), join(etc, "kiana.service.d"), { recursive: true });
    cpSync(join(UNITS, "mosquitto.service.d"), join(etc, "mosquitto.service.d"), { recursive: true });
    // Debian's own unit, as the mosquitto package installs it.
    if (!existsSync(join(root, "usr/lib/systemd/system/mosquitto.service")))
      writeFileSync(
        join(root, "usr/lib/systemd/system/mosquitto.service"),
        "[Unit]\nDescription=Mosquitto\n[Service]\nType=notify\nExecStart=/usr/sbin/mosquitto -c /etc/mosquitto/mosquitto.conf\n",
      );
  }
  // verify checks that every Exec*= binary exists inside the root.
  for (const bin of [
    "opt/kiana/current/kiana",
    "usr/sbin/mosquitto",
    "bin/sh",
    "bin/kill",
    "bin/hostname",
    "bin/mkdir",
    "bin/chown",
  ]) {
    mkdirSync(join(root, bin, ".."), { recursive: true });
    writeFileSync(join(root, bin), "#!/bin/sh\n");
    chmodSync(join(root, bin), 0o755);
  }
  return root;
}

function exposure(root: string, unit: string): number {
  const { code, out } = analyze(["security", "--offline=true", `--root=${root}`, unit]);
  const m = out.match(/Overall exposure level for \S+: (\d+(?:\.\d+)?)/);
  if (!m) throw new Error(`no exposure level in systemd-analyze output (exit ${code}):\n${out}`);
  return Number(m[1]);
}

test("systemd-analyze verify is clean for kiana.service, kiana-firstboot.service and the drop-ins", () => {
  for (const withDropIns of [false, true]) {
    const units = ["kiana.service", "kiana-firstboot.service", ...(withDropIns ? ["mosquitto.service"] : [])];
    const { code, out } = analyze(["verify", `--root=${imageRoot(withDropIns)}`, ...units]);
    expect({ withDropIns, code, out }).toEqual({ withDropIns, code: 0, out: "" });
  }
}, 60_000);

test("verify catches a missing binary, so a clean run means something", () => {
  const root = imageRoot(false);
  Bun.spawnSync(["rm", join(root, "opt/kiana/current/kiana")]);
  const { code, out } = analyze(["verify", `--root=${root}`, "kiana.service"]);
  expect(code).not.toBe(0);
  expect(out).toContain("/opt/kiana/current/kiana");
}, 60_000);

test("kiana.service exposure is at most 2.5, also with the satellite audio drop-in", () => {
  const plain = exposure(imageRoot(false), "kiana.service");
  const satellite = exposure(imageRoot(true), "kiana.service");
  console.log(`systemd-analyze security: kiana.service ${plain}, with satellite-audio.conf ${satellite}`);
  expect(plain).toBeLessThanOrEqual(2.5);
  expect(satellite).toBeLessThanOrEqual(2.5);
  expect(exposure(imageRoot(false), "kiana-firstboot.service")).toBeLessThanOrEqual(5);
}, 60_000);

test("the drop-in firstboot installs for satellites is the file in systemd/", async () => {
  expect(SATELLITE_DROP_IN).toBe(await Bun.file(join(UNITS, "kiana.service.d/satellite-audio.conf")).text());
});

test("kiana.service keeps the properties the runtime depends on", async () => {
  const unit = await Bun.file(join(UNITS, "kiana.service")).text();
  for (const line of [
    "Type=notify",
    "ExecStart=/opt/kiana/current/kiana run",
    "StateDirectory=kiana",
    "User=kiana",
    "Restart=on-failure",
    "SystemCallFilter=@system-service",
    "CapabilityBoundingSet=",
    "ProtectSystem=strict",
  ])
    expect(unit).toContain(`\n${line}\n`);
  expect(unit).toMatch(/\nWatchdogSec=\d+s\n/);
  // Bun's JIT writes executable memory.
  expect(unit).not.toMatch(/^MemoryDenyWriteExecute=yes/m);
});
