// The CLI as a person meets it: real processes, exit codes and messages.
import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type KianaProcess, startKiana } from "./admin/kiana-process.test-helper.ts";
import { parseArgs } from "./main.ts";

const MAIN = join(import.meta.dir, "main.ts");

function kiana(args: string[], env: Record<string, string> = {}) {
  const dataDir = env.KIANA_DATA ?? mkdtempSync(join(tmpdir(), "kiana-cli-"));
  const proc = Bun.spawnSync([process.execPath, MAIN, ...args], {
    env: { ...process.env, KIANA_DATA: dataDir, KIANA_MESH_ENABLED: "false", ...env },
    timeout: 20_000,
  });
  return { code: proc.exitCode, stdout: proc.stdout.toString(), stderr: proc.stderr.toString(), dataDir };
}

const running: KianaProcess[] = [];
afterAll(async () => {
  for (const p of running) await p.kill();
});

describe("kiana CLI", () => {
  test("version", () => {
    const r = kiana(["version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^kiana \d+\.\d+\.\d+\n$/);
  });

  test("a bad config value stops with exit 78 naming field, value, source and rule", () => {
    const r = kiana(["run"], { KIANA_ADMIN_PORT: "99999" });
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(
      "admin.port = 99999 (from KIANA_ADMIN_PORT): must be at least 0 and at most 65535",
    );
  });

  test("a broken config file stops with exit 78 before anything starts", () => {
    const data = mkdtempSync(join(tmpdir(), "kiana-cli-"));
    writeFileSync(join(data, "kiana.toml"), '[node]\nrole = "boss"\n');
    const r = kiana(["run"], { KIANA_DATA: data });
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(
      /node\.role = "boss" \(from .*kiana\.toml\): must be one of "hub", "node", "satellite"/,
    );
  });

  test("unknown commands and options are usage errors (64) with the usage text", () => {
    const cmd = kiana(["frobnicate"]);
    expect(cmd.code).toBe(64);
    expect(cmd.stderr).toContain("unknown command frobnicate");
    expect(cmd.stderr).toContain("usage: kiana <command>");
    expect(kiana(["run", "--colour", "red"]).code).toBe(64);
  });

  test("parseArgs collects repeated --set and the shortcuts", () => {
    expect(parseArgs(["run", "--port=9000", "--set", "a.b=1", "--set", "c.d=2", "--json"])).toEqual({
      command: "run",
      rest: [],
      flags: { port: "9000", set: "a.b=1\u0000c.d=2" },
      json: true,
    });
  });

  test("status shows the running node, its fingerprint and the pending setup code", async () => {
    const node = await startKiana();
    running.push(node);
    const port = new URL(node.url).port;
    const r = kiana(["status", "--json", "--port", port], { KIANA_DATA: node.dataDir });
    expect(r.code).toBe(0);
    const status = JSON.parse(r.stdout);
    expect(status.running).toBe(true);
    expect(status.fingerprint).toMatch(/^[0-9a-f]{32}$/);
    expect(status.setupCode).toBe(node.setupCode);
    const text = kiana(["status", "--port", port], { KIANA_DATA: node.dataDir });
    expect(text.stdout).toContain(`setup code   ${node.setupCode}`);
  }, 30_000);

  test("a port already in use is a clear error, not a stack trace", async () => {
    const node = await startKiana();
    running.push(node);
    const r = kiana(["run", "--port", new URL(node.url).port]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain("is already in use");
  }, 30_000);

  test("fleet: init, enroll the device from its status line, join; a certificate for other keys is refused", () => {
    const work = mkdtempSync(join(tmpdir(), "kiana-fleet-"));
    const dir = join(work, "authority");
    expect(kiana(["fleet", "init", "--fleet", "home", "--dir", dir]).stdout).toContain(
      'Fleet "home" created',
    );
    expect(kiana(["fleet", "init", "--fleet", "home", "--dir", dir]).stderr).toContain("never overwritten");
    const device = kiana(["status", "--json"]);
    const { publicKeys } = JSON.parse(device.stdout);
    const certFile = join(work, "kitchen.cert");
    const enrolled = kiana([
      "fleet",
      "enroll",
      "--dir",
      dir,
      "--name",
      "kitchen",
      "--role",
      "satellite",
      "--pubkey",
      publicKeys,
      "--out",
      certFile,
    ]);
    expect(enrolled.code).toBe(0);
    const fleetInfo = join(dir, "fleet.json");
    const joined = kiana(["fleet", "join", "--cert", certFile, "--fleet-info", fleetInfo], {
      KIANA_DATA: device.dataDir,
    });
    expect(joined.stdout).toContain('Joined fleet "home" as kitchen (satellite)');
    const status = JSON.parse(kiana(["status", "--json"], { KIANA_DATA: device.dataDir }).stdout);
    expect(status.enrolment).toMatchObject({ fleet: "home", name: "kitchen", role: "satellite" });
    const other = kiana(["fleet", "join", "--cert", certFile, "--fleet-info", fleetInfo]);
    expect(other.code).toBe(1);
    expect(other.stderr).toContain("issued for other keys than this device's");
    const bad = kiana([
      "fleet",
      "enroll",
      "--dir",
      dir,
      "--name",
      "kitchen",
      "--role",
      "satellite",
      "--pubkey",
      "ed25519:xyz",
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("--pubkey:");
  }, 30_000);

  test("chain: append, show with filters, verify; a tampered body is named and exits 1", () => {
    const data = mkdtempSync(join(tmpdir(), "kiana-chain-"));
    const env = { KIANA_DATA: data };
    expect(kiana(["chain", "append", "--text", "the spare key is under the mat"], env).stdout).toBe(
      "appended knowledge #0\n",
    );
    expect(kiana(["chain", "append", "--type", "config", "--text", "volume 40"], env).code).toBe(0);
    const all = kiana(["chain", "show", "--json"], env)
      .stdout.trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(all.map((b) => [b.seq, b.type, b.text])).toEqual([
      [0, "knowledge", "the spare key is under the mat"],
      [1, "config", "volume 40"],
    ]);
    expect(kiana(["chain", "show", "--type", "config"], env).stdout).toContain("volume 40");
    expect(kiana(["chain", "show", "--grep", "KEY"], env).stdout).not.toContain("volume 40");
    expect(kiana(["chain", "show", "--since", "yesterday"], env).code).toBe(64);
    expect(kiana(["chain", "verify"], env)).toMatchObject({ code: 0 });
    const db = new Database(join(data, "kiana.db"));
    db.run("UPDATE chain_block SET body = CAST('volume 100' AS BLOB) WHERE seq = 1");
    db.close();
    const verify = kiana(["chain", "verify"], env);
    expect(verify.code).toBe(1);
    expect(verify.stdout).toMatch(/BAD at block #1/);
  }, 30_000);

  test("doctor --json reports engines, missing packages and health", () => {
    const r = kiana(["doctor", "--json"]);
    const report = JSON.parse(r.stdout);
    expect(report.engines.map((e: { name: string }) => e.name)).toEqual([
      "onnxruntime",
      "llama",
      "datachannel",
    ]);
    expect(report.profile.cpu.cores).toBeGreaterThan(0);
    expect(Array.isArray(report.missingPackages)).toBe(true);
    expect(r.code).toBe(report.ok ? 0 : 1);
  }, 30_000);
});
