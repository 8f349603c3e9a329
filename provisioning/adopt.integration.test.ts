// `fleet adopt` against real `kiana run` processes: setup code and enrolment over loopback HTTP (wrong
// code, keys that are not the device's, the good path storing a certificate the device verifies),
// and, over real mDNS inside network namespaces this test creates, two fresh devices that both
// carry the default name, one adopted and restarted into the fleet.
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startKiana } from "../src/admin/kiana-process.test-helper.ts";
import {
  createFleetAuthority,
  formatPublicKeys,
  loadMembership,
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

/** What `kiana status --json` on the device says about its fleet membership. */
function enrolmentOf(dataDir: string): { fleet: string; name: string; role: string } | null {
  const res = Bun.spawnSync([process.execPath, MAIN, "status", "--json"], {
    env: { ...process.env, KIANA_DATA: dataDir, KIANA_LOG_FORMAT: "json", KIANA_MESH_ENABLED: "false" },
    timeout: 20_000,
  });
  return (JSON.parse(res.stdout.toString()) as { enrolment: { fleet: string; name: string; role: string } })
    .enrolment;
}

test("adopt over HTTP: a wrong code changes nothing, other keys get no certificate, the device enrols itself", async () => {
  const device = await startKiana();
  cleanups.push(() => device.kill());
  const common = ["adopt", "--url", device.url, "--name", "kitchen", "--role", "satellite"];

  const wrong = await fleet(...common, "--code", "AAAA-AAAA");
  expect(wrong.code).toBe(1);
  expect(wrong.err).toContain("the device refused the setup: That setup code is not right");
  expect(enrolmentOf(device.dataDir)).toBeNull();

  // No --pubkey: the keys come from the device's status API over the new admin session.
  const good = await fleet(...common, "--code", device.setupCode ?? "");
  expect(good.err).toBe("");
  expect(good.code).toBe(0);
  expect(good.out).toContain("admin password set");
  expect(good.out).toMatch(/^kitchen\s+http:\S+\s+satellite\s+home\s/m);
  expect(good.out).toContain("Restart kiana on the device");
  // The device stored a certificate that is its own, signed by our fleet, as `kiana fleet join` would.
  expect(enrolmentOf(device.dataDir)).toMatchObject({ fleet: "home", name: "kitchen", role: "satellite" });
  const membership = loadMembership(device.dataDir);
  const cert = membership?.certificate;
  if (!cert) throw new Error("no certificate stored");
  expect(
    verifyCertificate(cert, { fleetPublicKey: authority.publicKey, fleetId: "home", now: Date.now() }),
  ).toEqual({
    ok: true,
  });
  expect(
    Buffer.from(cert.signingKey).equals(
      Buffer.from(loadNodeKeys({ dataDir: device.dataDir }).signingPublicKey),
    ),
  ).toBe(true);
  expect(readFileSync(join(fleetDir, "issued.csv"), "utf8")).toContain(`,kitchen,satellite,${cert.serial},`);

  // The password adopt chose is the device's admin password now; the setup is over.
  const again = await fleet(...common, "--code", device.setupCode ?? "");
  expect(again.code).toBe(1);
  expect(again.err).toContain("is already set up");

  // --pubkey still works as a check: keys of another device stop adopt before any certificate.
  const other = await startKiana();
  cleanups.push(() => other.kill());
  const stranger = formatPublicKeys(loadNodeKeys({ dataDir: mkdtempSync(join(work, "stranger-")) }));
  const mismatch = await fleet(
    ...["adopt", "--url", other.url, "--name", "attic", "--role", "node"],
    ...["--code", other.setupCode ?? "", "--pubkey", stranger],
  );
  expect(mismatch.code).toBe(1);
  expect(mismatch.err).toContain("no certificate issued");
  expect(enrolmentOf(other.dataDir)).toBeNull();
  expect(readFileSync(join(fleetDir, "issued.csv"), "utf8")).not.toContain(",attic,");
}, 60_000);

test("two fresh devices with the default name show as two over mDNS; one is adopted and rejoins as a member", async () => {
  const lan = createNetnsLan(3, "ka");
  cleanups.push(() => lan.teardown());
  const procs: WatchedProcess[] = [];
  const runDevice = (host: number, dataDir: string) => {
    // No KIANA_NODE_NAME: both devices keep the default `kiana`, as a card nobody provisioned does.
    const device = watch(
      lan.run(lan.hosts[host] as string, [process.execPath, MAIN, "run"], {
        KIANA_DATA: dataDir,
        KIANA_ADMIN_HOST: "0.0.0.0",
        KIANA_ADMIN_PORT: "8080",
        KIANA_LOG_FORMAT: "json",
      }),
    );
    const stop = async () => {
      device.proc.kill("SIGTERM");
      await Promise.race([device.proc.exited, Bun.sleep(5000)]);
      device.proc.kill("SIGKILL");
    };
    cleanups.push(stop);
    procs.push(device);
    return { device, stop };
  };
  const running = (d: WatchedProcess) =>
    waitFor("a device to run", () => d.lines.some((l) => l.msg === "kiana is running"), 30_000, procs);
  const dataDirs = [mkdtempSync(join(work, "fresh-")), mkdtempSync(join(work, "fresh-"))];
  const first = runDevice(0, dataDirs[0] as string);
  const second = runDevice(1, dataDirs[1] as string);
  await Promise.all([running(first.device), running(second.device)]);
  const labels = dataDirs.map((d) => `kiana-${loadNodeKeys({ dataDir: d }).fingerprint.slice(0, 4)}`);

  // The operator's commands print tables, not JSON lines, so their output is read whole.
  const operator = async (args: string[]) => {
    const p = lan.run(lan.hosts[2] as string, [process.execPath, FLEET, ...args, "--dir", fleetDir]);
    const [out, err, code] = await Promise.all([
      new Response(p.stdout).text(),
      new Response(p.stderr).text(),
      p.exited,
    ]);
    return { out, err, code };
  };
  const rowOf = (out: string, label: string) => out.split("\n").find((l) => l.startsWith(`${label} `));
  const listed = await operator(["adopt", "--wait", "3"]);
  expect(listed.code).toBe(0);
  for (const [i, label] of labels.entries()) {
    const row = rowOf(listed.out, label);
    expect(row).toContain(`http://${lan.addresses[i]}:8080/`);
    expect(row).toContain("awaiting setup"); // from the TXT record: adopt sent no HTTP request
    expect(row).toMatch(/\bdev\b/); // an unenrolled device advertises its configured fleet, not ours
  }

  const url = `http://${lan.addresses[0]}:8080/`;
  const code = readFileSync(join(dataDirs[0] as string, "setup-code"), "utf8").trim();
  const adopted = await operator([
    ...["adopt", "--url", url, "--code", code],
    ...["--name", "porch", "--role", "node", "--password-file", passwordFile],
  ]);
  expect(adopted.err).toBe("");
  expect(adopted.code).toBe(0);
  expect(adopted.out).toContain("Restart kiana on the device");
  expect(existsSync(join(dataDirs[0] as string, "setup-code"))).toBe(false);

  // After the restart the answer says is needed, the device advertises its certificate's name and fleet.
  await first.stop();
  const restarted = runDevice(0, dataDirs[0] as string);
  await running(restarted.device);
  const after = await operator(["adopt", "--wait", "3"]);
  expect(rowOf(after.out, "porch")).toMatch(new RegExp(`${url}\\s+node\\s+home\\s+\\S+\\s+member$`));
  expect(rowOf(after.out, labels[0] as string)).toBeUndefined();
  expect(rowOf(after.out, labels[1] as string)).toContain("awaiting setup");
}, 120_000);
