import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isKianaError, type KianaError } from "../errors.ts";
import { envNameFor, loadConfig } from "./index.ts";

function tmp(): string {
  return mkdtempSync(join(tmpdir(), "kiana-config-"));
}

const NO_DEVICE = "/nonexistent/kiana.toml";

function loadError(opts: Parameters<typeof loadConfig>[0]): KianaError {
  try {
    loadConfig({ deviceConfigFile: NO_DEVICE, ...opts });
  } catch (err) {
    if (isKianaError(err)) return err;
    throw err;
  }
  throw new Error("expected loadConfig to fail");
}

describe("loadConfig", () => {
  test("embedded defaults: dev data dir under ./.kiana, admin on 127.0.0.1:8080, frozen", () => {
    const cwd = tmp();
    const c = loadConfig({ env: {}, cwd, deviceConfigFile: NO_DEVICE });
    expect(c.dataDir).toBe(join(cwd, ".kiana"));
    expect(c.configFile).toBeNull();
    expect(c.admin).toMatchObject({ host: "127.0.0.1", port: 8080 });
    expect(c.node.role).toBe("node");
    expect(Object.isFrozen(c.admin)).toBe(true);
    expect(() => {
      (c.admin as { port: number }).port = 1;
    }).toThrow();
  });

  test("precedence: file < KIANA_* env < flags; KIANA_DATA moves the data dir and its kiana.toml", () => {
    const data = tmp();
    writeFileSync(join(data, "kiana.toml"), '[admin]\nport = 9001\nhost = "0.0.0.0"\n[node]\nrole = "hub"\n');
    const fromFile = loadConfig({ env: { KIANA_DATA: data }, deviceConfigFile: NO_DEVICE });
    expect(fromFile.configFile).toBe(join(data, "kiana.toml"));
    expect(fromFile.admin.port).toBe(9001);
    expect(fromFile.node.role).toBe("hub");
    const fromEnv = loadConfig({
      env: { KIANA_DATA: data, KIANA_ADMIN_PORT: "9002" },
      deviceConfigFile: NO_DEVICE,
    });
    expect(fromEnv.admin.port).toBe(9002);
    expect(fromEnv.admin.host).toBe("0.0.0.0");
    const fromFlag = loadConfig({
      env: { KIANA_DATA: data, KIANA_ADMIN_PORT: "9002" },
      flags: { port: "9003", set: "node.role=satellite\u0000log.level=debug" },
      deviceConfigFile: NO_DEVICE,
    });
    expect(fromFlag.admin.port).toBe(9003);
    expect(fromFlag.node.role).toBe("satellite");
    expect(fromFlag.log.level).toBe("debug");
  });

  test("a device config file at /etc/kiana puts data in /var/lib/kiana", () => {
    const dir = tmp();
    const deviceFile = join(dir, "kiana.toml");
    writeFileSync(deviceFile, '[node]\nname = "kitchen"\n');
    const c = loadConfig({ env: {}, deviceConfigFile: deviceFile });
    expect(c.configFile).toBe(deviceFile);
    expect(c.dataDir).toBe("/var/lib/kiana");
    expect(c.node.name).toBe("kitchen");
  });

  test("env names follow the field path", () => {
    expect(envNameFor(["admin", "metricsToken"])).toBe("KIANA_ADMIN_METRICS_TOKEN");
    expect(envNameFor(["store", "busyTimeoutMs"])).toBe("KIANA_STORE_BUSY_TIMEOUT_MS");
  });
});

describe("config errors name the field, the value, the source and the rule", () => {
  const cases: [string, Parameters<typeof loadConfig>[0], RegExp][] = [
    [
      "port out of range",
      { env: { KIANA_ADMIN_PORT: "70000" } },
      /^admin\.port = 70000 \(from KIANA_ADMIN_PORT\): must be at least 0 and at most 65535$/,
    ],
    [
      "port not a number",
      { env: { KIANA_ADMIN_PORT: "eighty" } },
      /^admin\.port = "eighty" \(from KIANA_ADMIN_PORT\): must be a number/,
    ],
    [
      "port not an integer",
      { flags: { port: "80.5" } },
      /^admin\.port = 80\.5 \(from --set admin\.port\): must be a whole number$/,
    ],
    [
      "role not in the list",
      { env: { KIANA_NODE_ROLE: "boss" } },
      /^node\.role = "boss" .*must be one of "hub", "node", "satellite"/,
    ],
    ["name not a DNS label", { flags: { name: "Kitchen Pi" } }, /^node\.name = "Kitchen Pi" .*must match/],
    [
      "a list element that breaks its rule names its index and the list's source",
      { env: { KIANA_MESH_ICE_SERVERS: "stun:ok.lan:3478,http://not-ice" } },
      /^mesh\.iceServers\.1 = "http:\/\/not-ice" \(from KIANA_MESH_ICE_SERVERS\): must match \S+$/,
    ],
    [
      "unknown --set field",
      { flags: { set: "admin.prot=1" } },
      /^admin\.prot = "1" \(from --set\): is not a known setting/,
    ],
    [
      "negative session length",
      { flags: { set: "admin.sessionHours=-1" } },
      /^admin\.sessionHours = -1 .*must be greater than 0 and at most 720$/,
    ],
  ];
  for (const [name, opts, pattern] of cases) {
    test(name, () => {
      const err = loadError({ env: {}, cwd: tmp(), ...opts });
      expect(err.code).toBe("CONFIG_INVALID");
      expect(err.message).toMatch(pattern);
    });
  }

  test("unknown field in the TOML file", () => {
    const data = tmp();
    writeFileSync(join(data, "kiana.toml"), "[admin]\nprot = 9000\n");
    const err = loadError({ env: { KIANA_DATA: data } });
    expect(err.message).toMatch(/admin\.prot = 9000 \(from .*kiana\.toml\): is not a known setting/);
  });

  test("wrong type in the TOML file", () => {
    const data = tmp();
    writeFileSync(join(data, "kiana.toml"), '[admin]\nport = "8080"\n');
    expect(loadError({ env: { KIANA_DATA: data } }).message).toMatch(
      /^admin\.port = "8080" \(from .*kiana\.toml\): must be a whole number$/,
    );
  });

  test("broken TOML names the file, line and column", () => {
    const data = tmp();
    writeFileSync(join(data, "kiana.toml"), "[admin]\nport = = 1\n");
    const err = loadError({ env: { KIANA_DATA: data } });
    expect(err.code).toBe("CONFIG_INVALID");
    expect(err.message).toMatch(/kiana\.toml: not valid TOML at line 2, column \d+/);
  });

  test("an explicit config file that does not exist", () => {
    const err = loadError({ env: { KIANA_CONFIG: "/nonexistent/x.toml" } });
    expect(err.code).toBe("CONFIG_UNREADABLE");
    expect(err.message).toContain("/nonexistent/x.toml");
  });
});
