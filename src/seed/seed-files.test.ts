import { expect, test } from "bun:test";
import { SEED_FILES, type Seed } from "./schema.ts";
import { testSeed } from "./seed.test-helper.ts";
import { parseSeedFiles, renderSeedFiles, type SeedFile } from "./seed-files.ts";

const good = testSeed();
const text = (f: SeedFile) => new TextDecoder().decode(f.bytes);
const utf8 = (s: string) => new TextEncoder().encode(s);

test("render → parse gives back the same seed, and marks the files that hold secrets", () => {
  const files = renderSeedFiles(good);
  expect(files.map((f) => [f.path, f.secret])).toEqual([
    ["kiana.toml", true],
    ["user-data", false],
    ["meta-data", false],
    ["network-config", true],
  ]);
  expect(parseSeedFiles(files)).toEqual(good);
  expect(text(files[1] as SeedFile).startsWith("#cloud-config\n")).toBe(true);
});

test("a minimal seed (no password, identity, user or network) round-trips and is not secret", () => {
  const minimal: Seed = {
    instanceId: "i-1",
    node: { name: "attic", role: "node", fleet: "home", hubUrl: "" },
  };
  const files = renderSeedFiles(minimal);
  expect(files.map((f) => f.path)).toEqual(["kiana.toml", "user-data", "meta-data"]);
  expect(files.every((f) => !f.secret)).toBe(true);
  expect(parseSeedFiles(files)).toEqual(minimal);
});

test("strings YAML 1.1 would misread (dates, on/off, numbers) survive as strings", () => {
  const tricky: Seed = {
    ...good,
    network: {
      version: 2,
      wifis: { wlan0: { dhcp4: true, "access-points": { on: { password: "2024-01-01" }, "12345": {} } } },
    },
  };
  const files = renderSeedFiles(tricky);
  expect(text(files[3] as SeedFile)).toContain('"on":');
  expect(parseSeedFiles(files)).toEqual(tricky);
});

test("hand-written NoCloud files: bare netplan tree, groups as a string, top-level keys, no meta-data", () => {
  const files = renderSeedFiles(good)
    .filter((f) => f.path !== SEED_FILES.metaData)
    .map((f) => {
      if (f.path === SEED_FILES.networkConfig)
        return { ...f, bytes: utf8("version: 2\nethernets:\n  eth0:\n    dhcp4: true\n") };
      if (f.path === SEED_FILES.userData)
        return {
          ...f,
          bytes: utf8(
            `#cloud-config\nusers:\n  - name: operator\n    groups: adm, dialout\nssh_authorized_keys:\n  - ${good.user?.sshAuthorizedKeys[0]}\n`,
          ),
        };
      return f;
    });
  const seed = parseSeedFiles(files);
  expect(seed.instanceId).toBe("kiana-kitchen");
  expect(seed.user).toEqual({
    name: "operator",
    groups: ["adm", "dialout"],
    sshAuthorizedKeys: good.user?.sshAuthorizedKeys ?? [],
  });
  expect(seed.network).toEqual({ version: 2, ethernets: { eth0: { dhcp4: true } } });
});
