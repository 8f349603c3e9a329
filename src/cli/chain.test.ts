// `kiana chain show --grep` as a person runs it: real processes over one data directory.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const MAIN = join(import.meta.dir, "../main.ts");
const data = mkdtempSync(join(tmpdir(), "kiana-cli-chain-"));
afterAll(() => rmSync(data, { recursive: true, force: true }));

function kiana(...args: string[]) {
  const proc = Bun.spawnSync([process.execPath, MAIN, "chain", ...args], {
    env: { ...process.env, KIANA_DATA: data, KIANA_MESH_ENABLED: "false" },
    timeout: 20_000,
  });
  return { code: proc.exitCode, stdout: proc.stdout.toString(), stderr: proc.stderr.toString() };
}

test("--grep searches knowledge by whole words, newest first, with the other filters", () => {
  for (const [type, text] of [
    ["knowledge", "the kettle is in the kitchen"],
    ["config", "kettle timer 5 min"],
    ["knowledge", "descale the kettle monthly"],
    ["knowledge", "kettlebells are in the garage"],
  ] as const)
    expect(kiana("append", "--type", type, "--text", text).code).toBe(0);

  const grep = (...more: string[]) =>
    kiana("show", "--json", ...more)
      .stdout.trim()
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l).text);
  // Words, not substrings: "kettlebells" is another word, and the config block is not indexed.
  expect(grep("--grep", "KETTLE")).toEqual(["descale the kettle monthly", "the kettle is in the kitchen"]);
  expect(grep("--grep", "kettle kitchen")).toEqual(["the kettle is in the kitchen"]);
  expect(grep("--grep", "kettle*", "--limit", "2")).toEqual([
    "kettlebells are in the garage",
    "descale the kettle monthly",
  ]);
  expect(grep("--grep", "kettle", "--type", "config")).toEqual([]);
  expect(grep("--type", "config")).toEqual(["kettle timer 5 min"]);

  const plain = kiana("show", "--grep", "monthly");
  expect(plain.stdout).toMatch(/^\S+Z {2}[0-9a-f]{8} #2 {2}knowledge {2}descale the kettle monthly\n$/);
  for (const hostile of ['"', "AND(", "*", "NEAR(x"]) {
    const r = kiana("show", "--grep", hostile);
    expect(r).toMatchObject({ code: 0, stdout: "no blocks match\n" });
  }
}, 60_000);

test("a fleet of one signs its own checkpoints; votes name what was wrong with their arguments", () => {
  expect(kiana("checkpoint").stdout).toMatch(/proposed checkpoint [0-9a-f]{16} at height 1/);
  const status = JSON.parse(kiana("status", "--json").stdout);
  expect(status.validators).toHaveLength(1);
  expect(status.validators[0].self).toBe(true);
  expect(status.lastFinal).toMatchObject({ height: 1, final: true, signers: 1 });
  const bad = kiana("vote", "add-validator", "--validator", "kitchen");
  expect(bad.code).toBe(64);
  expect(bad.stderr).toContain('--validator must be a 32-hex-digit fingerprint, got "kitchen"');
  expect(kiana("vote", "promote").stderr).toContain(
    "needs one of add-validator, remove-validator, confirm, dispute",
  );
  const author = status.validators[0].fingerprint;
  const self = kiana("vote", "confirm", "--author", author, "--seq", "0");
  expect(self.code).toBe(1);
  expect(self.stderr).toContain("cannot vote on its own knowledge");
});
