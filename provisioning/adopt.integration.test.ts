// `fleet adopt` against real `kiana run` processes: the setup code flow over loopback HTTP (wrong
// code, wrong keys, the good path ending in a `kiana fleet join` that the device accepts), and
// discovery over real mDNS inside network namespaces this test creates.
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startKiana } from "../src/admin/kiana-process.test-helper.ts";
import {
  createFleetAuthority,
  decodeCertificate,
  formatPublicKeys,
  loadNodeKeys,
  verifyCertificate,
} from "../src/identity/index.ts";
import { createNetnsLan, type WatchedProcess, waitFor, watch } from "../src/mesh/netns.test-helper.ts";
import { type FleetIo, runFleet } from "./fleet.ts";

const MAIN = join(import.meta.dir, "..", "src", "main.ts");
const FLEET = join(import.meta.dir, "fleet.ts");
const work = mkdtempSync(join(tmpdir(), "kiana-adopt-"));
const fleetDir = join(work, "fleet");
const authority = createFleetAuthority({ dir: fleetDir, fleetId: "home", now: Date.now() });
const passwordFile = join(work, "password");
writeFileSync(passwordFile, "a long admin password\n");
const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  rmSync(work, { recursive: true, force: true });
});

async function fleet(...argv: string[]) {
  let out = "";
  let err = "";
  const io: FleetIo = {
    out: (t) => {
      out += t;
    },
    err: (t) => {
      err += t;
    },
    env: {},
    tty: false,
  };
  const code = await runFleet([...argv, "--dir", fleetDir, "--password-file", passwordFile], io);
  return { code, out, err };
}

function publicKeysOf(dataDir: string): string {
  const res = Bun.spawnSync([process.execPath, MAIN, "status", "--json"], {
    env: { ...process.env, KIANA_DATA: dataDir, KIANA_LOG_FORMAT: "json" },
    timeout: 20_000,
  });
  return (JSON.parse(res.stdout.toString()) as { publicKeys: string }).publicKeys;
}

test("adopt over HTTP: a wrong code changes nothing, keys of another device get no certificate, the right ones do", async () => {
  const device = await startKiana();
  cleanups.push(() => device.kill());
  const keys = publicKeysOf(device.dataDir);
  const out = mkdtempSync(join(work, "certs-"));
  const common = ["adopt", "--url", device.url, "--name", "kitchen", "--role", "satellite", "--out", out];

  const wrong = await fleet(...common, "--code", "AAAA-AAAA", "--pubkey", keys);
  expect(wrong.code).toBe(1);
  expect(wrong.err).toContain("the device refused the setup: That setup code is not right");

  const good = await fleet(...common, "--code", device.setupCode ?? "", "--pubkey", keys);
  expect(good.err).toBe("");
  expect(good.code).toBe(0);
  expect(good.out).toContain("admin password set");
  const certText = readFileSync(join(out, "kitchen.cert"), "utf8");
  const cert = decodeCertificate(certText);
  expect(
    verifyCertificate(cert, { fleetPublicKey: authority.publicKey, fleetId: "home", now: Date.now() }),
  ).toEqual({ ok: true });
  expect([cert.name, cert.role]).toEqual(["kitchen", "satellite"]);
  expect(readFileSync(join(fleetDir, "issued.csv"), "utf8")).toContain(",kitchen,satellite,");

  // The device accepts what adopt issued, through the command adopt tells the operator to run.
  const joined = Bun.spawnSync(
    [
      process.execPath,
      MAIN,
      "fleet",
      "join",
      "--cert",
      join(out, "kitchen.cert"),
      "--fleet-info",
      join(out, "fleet.json"),
    ],
    { env: { ...process.env, KIANA_DATA: device.dataDir, KIANA_LOG_FORMAT: "json" }, timeout: 20_000 },
  );
  expect(joined.stderr.toString()).toBe("");
  expect(joined.stdout.toString()).toContain('Joined fleet "home" as kitchen (satellite)');

  // The password adopt chose is the device's admin password now; the setup is over.
  const again = await fleet(...common, "--code", device.setupCode ?? "");
  expect(again.code).toBe(1);
  expect(again.err).toContain("is already set up");

  const other = await startKiana();
  cleanups.push(() => other.kill());
  const stranger = formatPublicKeys(loadNodeKeys({ dataDir: mkdtempSync(join(work, "stranger-")) }));
  const otherOut = mkdtempSync(join(work, "certs-"));
  const mismatch = await fleet(
    ...["adopt", "--url", other.url, "--name", "attic", "--role", "node", "--out", otherOut],
    ...["--code", other.setupCode ?? "", "--pubkey", stranger],
  );
  expect(mismatch.code).toBe(1);
  expect(mismatch.err).toContain("no certificate issued");
  expect(existsSync(join(otherOut, "attic.cert"))).toBe(false);
}, 60_000);

test("adopt finds a fresh device over mDNS on a LAN of namespaces and sets it up from another host", async () => {
  const lan = createNetnsLan(2, "ka");
  cleanups.push(() => lan.teardown());
  const dataDir = mkdtempSync(join(work, "fresh-"));
  const device = watch(
    lan.run(lan.hosts[0] as string, [process.execPath, MAIN, "run"], {
      KIANA_DATA: dataDir,
      KIANA_NODE_NAME: "fresh",
      KIANA_ADMIN_HOST: "0.0.0.0",
      KIANA_ADMIN_PORT: "8080",
      KIANA_LOG_FORMAT: "json",
    }),
  );
  cleanups.push(async () => {
    device.proc.kill("SIGTERM");
    await Promise.race([device.proc.exited, Bun.sleep(5000)]);
    device.proc.kill("SIGKILL");
  });
  const procs: WatchedProcess[] = [device];
  await waitFor(
    "the device to run",
    () => device.lines.some((l) => l.msg === "kiana is running"),
    30_000,
    procs,
  );

  // The operator's commands print tables, not JSON lines, so their output is read whole.
  const operator = async (args: string[]) => {
    const p = lan.run(lan.hosts[1] as string, [process.execPath, FLEET, ...args, "--dir", fleetDir]);
    const [out, err, code] = await Promise.all([
      new Response(p.stdout).text(),
      new Response(p.stderr).text(),
      p.exited,
    ]);
    return { out, err, code };
  };
  const listed = await operator(["adopt", "--wait", "3"]);
  expect(listed.code).toBe(0);
  const row = listed.out.split("\n").find((l) => l.startsWith("fresh "));
  expect(row).toContain(`http://${lan.addresses[0]}:8080/`);
  expect(row).toContain("awaiting setup");
  expect(row).toMatch(/\bdev\b/); // an unenrolled device advertises its configured fleet, not ours

  const code = readFileSync(join(dataDir, "setup-code"), "utf8").trim();
  const adopted = await operator([
    ...["adopt", "--url", `http://${lan.addresses[0]}:8080/`, "--code", code],
    ...["--name", "fresh", "--role", "node", "--password-file", passwordFile],
  ]);
  expect(adopted.err).toBe("");
  expect(adopted.code).toBe(0);
  expect(adopted.out).toContain("Not enrolled: the device does not serve its public keys over HTTP");
  expect(existsSync(join(dataDir, "setup-code"))).toBe(false);
}, 60_000);
