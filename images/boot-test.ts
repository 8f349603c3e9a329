// images/boot-test: the emulated run. Provisions a generic-arm64 image with a seed (provisioning/fleet),
// boots it under QEMU, waits for kiana to be ready, logs in with the seeded password through the
// forwarded admin port, checks the node's fingerprint against its enrolment certificate, cuts the
// power while the node writes, and boots again to check the store.
// Usage: images/boot-test [--image FILE.img] [--keep] [--ready-timeout SECONDS]
import { Database } from "bun:sqlite";
import { copyFileSync, existsSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createCookieClient } from "../src/admin/cookie-client.ts";
import { certificateFingerprint, decodeCertificate } from "../src/identity/enrolment.ts";
import { formatFingerprint } from "../src/identity/node-keys.ts";
import { sh } from "./assemble.ts";
import { extractKernel, freePort, partitionAt, scratchDir, startVm, type Vm } from "./qemu.ts";

const IMAGES = import.meta.dir;
const ROOT = join(IMAGES, "..");
const PASSWORD = "boot test admin password";
const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(1).padStart(7)}s`;
const results: { check: string; ok: boolean; detail: string }[] = [];

function stage(what: string): void {
  console.log(`[${elapsed()}] ${what}`);
}
function record(check: string, ok: boolean, detail: string): void {
  results.push({ check, ok, detail });
  console.log(`[${elapsed()}] ${ok ? "PASS" : "FAIL"} ${check}: ${detail}`);
}

function newestImage(): string | undefined {
  const out = join(IMAGES, "out");
  if (!existsSync(out)) return undefined;
  return readdirSync(out)
    .filter((f) => f.endsWith("-generic-arm64.img"))
    .map((f) => join(out, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
}

/** A cookie-keeping client for the admin page, as a person's browser would use it. */
function adminClient(base: string) {
  const call = createCookieClient(base, 60_000);
  return {
    call,
    /** Logs in with the password; true when the server answered with a session (redirect to /). */
    async login(password: string): Promise<boolean> {
      const page = await (await call("/login")).text();
      const csrf = /name="csrf" value="([^"]+)"/.exec(page)?.[1] ?? "";
      const res = await call("/login", {
        method: "POST",
        body: new URLSearchParams({ csrf, password }),
        headers: { "content-type": "application/x-www-form-urlencoded" },
      });
      return res.status === 302 || res.status === 303;
    },
    async status(): Promise<{ node: { fingerprint: string; name: string }; health: { code: string }[] }> {
      const res = await call("/api/v1/status");
      if (res.status !== 200) throw new Error(`GET /api/v1/status answered ${res.status}`);
      return (await res.json()) as {
        node: { fingerprint: string; name: string };
        health: { code: string }[];
      };
    },
  };
}

async function waitHealthy(base: string, timeoutMs: number): Promise<string> {
  const until = Date.now() + timeoutMs;
  let last = "no answer";
  while (Date.now() < until) {
    try {
      const res = await fetch(new URL("/healthz", base), { signal: AbortSignal.timeout(10_000) });
      last = `${res.status} ${await res.text()}`;
      if (res.status === 200) return last;
    } catch (err) {
      last = (err as Error).message;
    }
    await Bun.sleep(2000);
  }
  throw new Error(`/healthz not 200 within ${timeoutMs / 1000} s (last: ${last})`);
}

async function boot(
  disk: string,
  kernel: { kernel: string; initrd: string },
  dir: string,
  n: number,
  readyMs: number,
): Promise<{ vm: Vm; base: string; seconds: number }> {
  const port = freePort();
  const consoleLog = join(dir, `console-${n}.log`);
  const t0 = performance.now();
  stage(
    `boot ${n}: qemu-system-aarch64 -M virt -cpu cortex-a72, admin port on 127.0.0.1:${port} (${consoleLog})`,
  );
  const vm = startVm({ image: disk, ...kernel, adminPort: port, consoleLog });
  const base = `http://127.0.0.1:${port}`;
  try {
    const line = await vm.waitFor(/KIANA-READY/, readyMs);
    const seconds = (performance.now() - t0) / 1000;
    record(`boot ${n}: kiana.service ready`, true, `${seconds.toFixed(0)} s to "${line.trim()}"`);
    record(`boot ${n}: /healthz through the forwarded port`, true, await waitHealthy(base, 60_000));
    return { vm, base, seconds };
  } catch (err) {
    record(`boot ${n}: kiana.service ready`, false, (err as Error).message);
    const tail = vm.consoleText().split("\n").slice(-40).join("\n");
    console.log(`--- last console lines ---\n${tail}\n---`);
    await vm.kill();
    throw err;
  }
}

/** Offline check after the power cut: replay the data partition's journal on a copy, then PRAGMA integrity_check. */
function offlineIntegrity(disk: string, dir: string): string {
  const data = partitionAt(disk, 4);
  const copy = join(dir, "data-after-cut.ext4");
  sh([
    "dd",
    `if=${disk}`,
    `of=${copy}`,
    "bs=1M",
    `skip=${data.offset / 2 ** 20}`,
    `count=${data.bytes / 2 ** 20}`,
    "status=none",
  ]);
  const fsck = Bun.spawnSync(["e2fsck", "-fy", copy], { stdout: "pipe", stderr: "pipe" });
  // 0: clean, 1: errors corrected (journal replay counts); anything higher is real damage.
  if ((fsck.exitCode ?? 8) > 1) throw new Error(`e2fsck on the data partition exited ${fsck.exitCode}`);
  const dbDir = join(dir, "db");
  sh(["mkdir", "-p", dbDir]);
  const files = sh(["debugfs", "-R", "ls -p /", copy]);
  for (const f of ["kiana.db", "kiana.db-wal"])
    if (files.includes(`/${f}/`)) sh(["debugfs", "-R", `dump /${f} ${join(dbDir, f)}`, copy]);
  if (!existsSync(join(dbDir, "kiana.db"))) throw new Error("no kiana.db on the data partition");
  const db = new Database(join(dbDir, "kiana.db"));
  try {
    const rows = db.query<{ integrity_check: string }, []>("PRAGMA integrity_check").all();
    const objects = db.query<{ n: number }, []>("SELECT count(*) AS n FROM sqlite_master").get()?.n ?? 0;
    const verdict = rows.map((r) => r.integrity_check).join("; ");
    if (verdict !== "ok") throw new Error(`PRAGMA integrity_check: ${verdict}`);
    return `e2fsck exit ${fsck.exitCode}, PRAGMA integrity_check ok (${objects} schema objects)`;
  } finally {
    db.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      image: { type: "string" },
      keep: { type: "boolean", default: false },
      "ready-timeout": { type: "string", default: "900" },
    },
  });
  const readyMs = Number(values["ready-timeout"]) * 1000;
  let image = values.image ?? newestImage();
  if (!image) {
    stage("no generic-arm64 image in images/out: building one (images/build --board generic-arm64)");
    const res = Bun.spawnSync([join(IMAGES, "build"), "--board", "generic-arm64"], {
      stdout: "inherit",
      stderr: "inherit",
    });
    if (res.exitCode !== 0) throw new Error("images/build failed");
    image = newestImage();
    if (!image) throw new Error("images/build made no image");
  }
  const scratch = scratchDir("kiana-boot-test-");
  const dir = scratch.dir;
  stage(`image ${image}; scratch ${dir}`);
  try {
    // Provision the way an operator does: fleet authority, inventory, a seeded copy of the image.
    const fleet = join(ROOT, "provisioning", "fleet");
    const fleetDir = join(dir, "fleet");
    sh([fleet, "init", "--fleet", "boottest", "--dir", fleetDir]);
    writeFileSync(join(dir, "fleet.csv"), `name,role,network,admin_password\nqnode,node,dhcp,${PASSWORD}\n`);
    stage("provisioning/fleet provision --out (seeded copy of the image)");
    sh([
      fleet,
      "provision",
      "--inventory",
      join(dir, "fleet.csv"),
      "--image",
      image,
      "--out",
      join(dir, "out"),
      "--dir",
      fleetDir,
    ]);
    const disk = join(dir, "out", "qnode.img");
    const bootPart = partitionAt(disk, 1);
    const seedToml = sh(["mtype", "-i", `${disk}@@${bootPart.offset}`, "::kiana.toml"]);
    const cert = decodeCertificate(
      (Bun.TOML.parse(seedToml) as { enrolment: { certificate: string } }).enrolment.certificate,
    );
    const certFp = formatFingerprint(certificateFingerprint(cert));
    stage(`seeded node qnode, certificate fingerprint ${certFp}`);
    // A card larger than the image: first boot must grow the data partition into the rest.
    sh(["truncate", "-s", "+512M", disk]);
    const kernel = extractKernel(disk, dir);
    stage(`kernel ${kernel.version} and its initramfs taken from the image's root partition`);

    // Boot 1: first boot applies the seed.
    const first = await boot(disk, kernel, dir, 1, readyMs);
    const grown = first.vm.consoleText().match(/kiana-grow-data: .*grown.*MiB/)?.[0];
    record(
      "data partition grown to the end of the card",
      grown !== undefined,
      grown ?? "no kiana-grow-data line",
    );
    const admin = adminClient(first.base);
    record("admin login with the seeded password", await admin.login(PASSWORD), "POST /login");
    const st = await admin.status();
    record(
      "node identity matches its enrolment certificate",
      st.node.fingerprint === certFp,
      `status ${st.node.fingerprint} vs certificate ${certFp}`,
    );
    record(
      "wrong password refused",
      !(await adminClient(first.base).login("not the password")),
      "POST /login",
    );

    // Power cut while the node writes: each login appends to the audit log and the session table.
    stage("power cut: logging in repeatedly (audit + session writes), then SIGKILL to QEMU");
    let writes = 0;
    let stop = false;
    const writer = async () => {
      while (!stop) {
        try {
          if (await adminClient(first.base).login(PASSWORD)) writes++;
        } catch {
          // The cut ends requests mid-flight.
        }
      }
    };
    const loops = [writer(), writer()];
    const until = Date.now() + 120_000;
    while (writes < 6 && Date.now() < until) await Bun.sleep(250);
    await Bun.sleep(700);
    await first.vm.kill();
    stop = true;
    await Promise.all(loops);
    record("writes in flight at the power cut", writes >= 1, `${writes} logins committed before the cut`);
    try {
      record("store intact after the cut (offline copy)", true, offlineIntegrity(disk, dir));
    } catch (err) {
      record("store intact after the cut (offline copy)", false, (err as Error).message);
    }
    const fat = sh(["mdir", "-b", "-i", `${disk}@@${bootPart.offset}`, "::/"]);
    record(
      "first boot removed the seed's secrets from the boot partition",
      !/kiana\.toml/i.test(fat),
      fat.replace(/\s+/g, " ").trim(),
    );

    // Boot 2: journal replay, the store's quick_check at open, same identity.
    const second = await boot(disk, kernel, dir, 2, readyMs);
    const again = adminClient(second.base);
    record("admin login after the power cut", await again.login(PASSWORD), "POST /login");
    const st2 = await again.status();
    const corrupt = st2.health.filter((h) => h.code.startsWith("STORE"));
    record(
      "store passes its integrity check on the device",
      corrupt.length === 0,
      corrupt.length === 0 ? "no STORE_* health problem after quick_check at open" : JSON.stringify(corrupt),
    );
    record("identity unchanged after the cut", st2.node.fingerprint === certFp, st2.node.fingerprint);
    await second.vm.kill();
    if (values.keep) copyFileSync(join(dir, "console-1.log"), join(IMAGES, "out", "boot-test-console-1.log"));
  } finally {
    if (values.keep) stage(`kept ${dir}`);
    else scratch.remove();
  }
  const failed = results.filter((r) => !r.ok);
  console.log(
    `\nboot test: ${results.length - failed.length} passed, ${failed.length} failed (${elapsed().trim()})`,
  );
  return failed.length === 0 ? 0 : 1;
}

if (import.meta.main) {
  try {
    process.exit(await main(process.argv.slice(2)));
  } catch (err) {
    console.error(`images/boot-test: ${err instanceof Error ? err.message : String(err)}`);
    const failed = results.filter((r) => !r.ok).length;
    console.log(`\nboot test: ${results.length - failed} passed, ${failed + 1} failed`);
    process.exit(1);
  }
}
