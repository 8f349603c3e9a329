// `kiana firstboot`: applies the seed on the boot partition once. Order, so that a power cut at any
// point is finished by the next boot: validate everything → create the login user → stage every
// file → commit (rename) → admin hash into the store → record done (data dir, then boot) → wipe
// the seed from the card. Until the wipe ends, kiana.toml is still there and the unit runs again.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createAccounts } from "../admin/accounts.ts";
import { isKianaError, kianaError } from "../errors.ts";
import { certificateFingerprint, decodeCertificate } from "../identity/index.ts";
import { openStore } from "../store/index.ts";
import { plan, preflight, SERVICE_USER } from "./firstboot-plan.ts";
import { recordFirstboot } from "./firstboot-status.ts";
import { networkHasSecrets } from "./network.ts";
import { SEED_FILES, type Seed } from "./schema.ts";
import { parseSeedFiles } from "./seed-files.ts";
import { chownTree, commitFiles, isWiped, lookupUser, readOr, stageFiles, wipeFile } from "./staged-files.ts";
import * as sys from "./system-files.ts";

/** The record left on the boot partition: what was applied, nothing secret. */
export const DONE_FILE = "kiana-firstboot.done";

export type FirstbootStep =
  | "validated"
  | "user"
  | "staged"
  | "committed"
  | "admin"
  | "recorded"
  | `wiped:${string}`;

export interface FirstbootOptions {
  /** The boot (FAT) partition, e.g. /boot/firmware. */
  bootDir: string;
  /** Root of the system to configure: "/" on a device, a temp dir in tests. */
  root: string;
  /** The node's data dir: /var/lib/kiana under root by default. */
  dataDir?: string;
  now?: () => number;
  log?: (line: string) => void;
  /** Runs useradd (and on a live system systemctl); returns its exit code and stderr. */
  exec?: (argv: string[]) => { code: number; stderr: string };
  /** On the running system: reload units and start what the seed enabled (wpa_supplicant@wlan0). */
  live?: boolean;
  /** Test hook after each durable step; a throw stands in for a power cut there. */
  afterStep?: (step: FirstbootStep) => void;
}

export interface FirstbootResult {
  state: "no-seed" | "applied" | "finished-cleanup";
  seed?: Seed;
}

const defaultExec = (argv: string[]) => {
  const p = Bun.spawnSync(argv, { stdout: "ignore", stderr: "pipe" });
  return { code: p.exitCode ?? 1, stderr: p.stderr.toString() };
};

function readSeedFiles(bootDir: string) {
  return Object.values(SEED_FILES)
    .filter((name) => existsSync(join(bootDir, name)))
    .map((path) => ({ path, bytes: new Uint8Array(readFileSync(join(bootDir, path))) }));
}

function ensureUser(seed: Seed, root: string, exec: NonNullable<FirstbootOptions["exec"]>): void {
  const user = seed.user;
  if (!user || lookupUser(root, user.name)) return;
  const groups = user.groups.length ? ["-G", user.groups.join(",")] : [];
  const argv = [
    "useradd",
    ...(root === "/" ? [] : ["--root", root]),
    "-m",
    "-U",
    "-s",
    "/bin/bash",
    ...groups,
    user.name,
  ];
  const { code, stderr } = exec(argv);
  if (code !== 0)
    throw kianaError("FIRSTBOOT_FAILED", `useradd ${user.name} failed (${code}): ${stderr.trim()}`);
}

function storeAdminHash(seed: Seed, dataDir: string): void {
  if (!seed.admin) return;
  const store = openStore({ path: join(dataDir, "kiana.db") });
  try {
    createAccounts({ store, sessionMs: 1 }).setPasswordHash(seed.admin.passwordHash);
  } finally {
    store.close();
  }
  // The seeded password replaces the one-time setup code.
  rmSync(join(dataDir, "setup-code"), { force: true });
}

export async function applyFirstboot(opts: FirstbootOptions): Promise<FirstbootResult> {
  const root = opts.root;
  const dataDir = opts.dataDir ?? join(root, "var/lib/kiana");
  const now = opts.now ?? Date.now;
  const log = opts.log ?? (() => {});
  const exec = opts.exec ?? defaultExec;
  const step = (s: FirstbootStep) => opts.afterStep?.(s);
  const files = readSeedFiles(opts.bootDir);
  const kiana = files.find((f) => f.path === SEED_FILES.kiana);
  if (!kiana) return { state: "no-seed" };
  const sha = createHash("sha256").update(kiana.bytes).digest("hex");
  const done = readOr(join(opts.bootDir, DONE_FILE), "");
  // Applied before, and the power went before the wipe finished: only the wipe is left to do.
  if (isWiped(kiana.bytes) || (done && (JSON.parse(done) as { seedSha256?: string }).seedSha256 === sha)) {
    wipeSeed(
      opts.bootDir,
      files.map((f) => f.path),
      step,
    );
    log("seed was applied before; removed what was left of it from the boot partition");
    return { state: "finished-cleanup" };
  }
  let seed: Seed;
  try {
    seed = parseSeedFiles(files);
    preflight(seed, root, now());
  } catch (err) {
    if (isKianaError(err))
      recordFirstboot(dataDir, { state: "failed", at: now(), message: err.message, ...err.details });
    throw err;
  }
  step("validated");
  ensureUser(seed, root, exec);
  step("user");
  const planned = plan(seed, root, dataDir);
  const canChown = process.getuid?.() === 0;
  stageFiles(planned, canChown);
  step("staged");
  commitFiles(planned);
  if (seed.node.role !== "satellite") rmSync(join(root, sys.SATELLITE_DROP_IN_PATH), { force: true });
  step("committed");
  storeAdminHash(seed, dataDir);
  const service = lookupUser(root, SERVICE_USER);
  if (service && canChown) chownTree(dataDir, service);
  step("admin");
  const fingerprint = seed.identity
    ? certificateFingerprint(decodeCertificate(seed.identity.certificate))
    : null;
  const record = {
    instanceId: seed.instanceId,
    node: seed.node,
    fingerprint,
    enrolled: !!seed.identity,
    user: seed.user?.name ?? null,
  };
  recordFirstboot(
    dataDir,
    { state: "applied", at: now(), ...record },
    service && canChown ? service : undefined,
  );
  const { writeFileAtomic } = await import("../platform/atomic-file.ts");
  writeFileAtomic(
    join(opts.bootDir, DONE_FILE),
    `${JSON.stringify({ appliedAt: new Date(now()).toISOString(), seedSha256: sha, ...record }, null, 2)}\n`,
  );
  step("recorded");
  if (opts.live) liveReload(seed, exec, log);
  wipeSeed(
    opts.bootDir,
    files.map((f) => f.path),
    step,
    seed,
  );
  log(
    `applied the seed for ${seed.node.name} (${seed.node.role}, fleet ${seed.node.fleet}); secrets removed from the boot partition`,
  );
  return { state: "applied", seed };
}

/** Every seed file leaves the card: cloud-init, if ever installed, must not apply it again. */
function wipeSeed(bootDir: string, names: string[], step: (s: FirstbootStep) => void, seed?: Seed): void {
  // kiana.toml last: it is the unit's condition, so the unit runs again until all the rest is gone.
  const ordered = [
    ...names.filter((n) => n !== SEED_FILES.kiana),
    ...names.filter((n) => n === SEED_FILES.kiana),
  ];
  for (const name of ordered) {
    // Without the parsed seed (cleanup after a crash) every file is treated as secret.
    const secret =
      !seed ||
      name === SEED_FILES.kiana ||
      (name === SEED_FILES.networkConfig && networkHasSecrets(seed.network));
    wipeFile(join(bootDir, name), secret);
    step(`wiped:${name}`);
  }
}

/** This boot already loaded its units: make it see the role drop-in and start the seeded Wi-Fi. */
function liveReload(
  seed: Seed,
  exec: NonNullable<FirstbootOptions["exec"]>,
  log: (line: string) => void,
): void {
  const units = Object.keys(seed.network?.wifis ?? {}).map((id) => `wpa_supplicant@${id}.service`);
  for (const argv of [
    ["systemctl", "daemon-reload"],
    ...(units.length ? [["systemctl", "--no-block", "start", ...units]] : []),
  ]) {
    const r = exec(argv);
    if (r.code !== 0)
      log(`${argv.join(" ")} failed (${r.code}): ${r.stderr.trim()}; it takes effect at the next boot`);
  }
}
