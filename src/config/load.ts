// Loads the config once at start: defaults < TOML file < KIANA_* environment < flags.
// The first bad value stops the process (exit 78) with the field, the value, where it came from and the rule.
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { type TSchema, TypeGuard } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { parse as parseToml } from "smol-toml";
import { kianaError } from "../errors.ts";
import { ConfigSchema, type KianaConfig } from "./schema.ts";

/** sysexits.h EX_CONFIG: systemd and shells can tell a config error from a crash. */
export const CONFIG_EXIT_CODE = 78;
export const DEVICE_CONFIG_FILE = "/etc/kiana/kiana.toml";
export const DEVICE_DATA_DIR = "/var/lib/kiana";

export interface LoadConfigOptions {
  env?: Record<string, string | undefined>;
  /** `--set section.key=value` pairs and the shortcuts --port, --host, --role, --name, --data, --config. */
  flags?: Record<string, string>;
  cwd?: string;
  /** Where a device keeps its config; a file there makes this a device (data in /var/lib/kiana). */
  deviceConfigFile?: string;
}

const SHORTCUTS: Record<string, string> = {
  port: "admin.port",
  host: "admin.host",
  role: "node.role",
  name: "node.name",
  fleet: "node.fleet",
  "log-level": "log.level",
};

interface Leaf {
  path: string[];
  schema: TSchema;
}

function leaves(schema: TSchema, prefix: string[] = []): Leaf[] {
  if (TypeGuard.IsObject(schema)) {
    return Object.entries(schema.properties).flatMap(([k, s]) => leaves(s, [...prefix, k]));
  }
  return [{ path: prefix, schema }];
}

const LEAVES = leaves(ConfigSchema);

export function envNameFor(path: string[]): string {
  return `KIANA_${path.map((p) => p.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase()).join("_")}`;
}

function fail(field: string, value: unknown, source: string, rule: string): never {
  const shown = typeof value === "string" ? JSON.stringify(value) : String(JSON.stringify(value) ?? value);
  throw kianaError("CONFIG_INVALID", `${field} = ${shown} (from ${source}): ${rule}`, {
    field,
    value,
    source,
    rule,
  });
}

/** Strings from env and flags become the leaf's type; a string that cannot is reported as such. */
function coerce(leaf: Leaf, raw: string, source: string): unknown {
  const field = leaf.path.join(".");
  if (TypeGuard.IsInteger(leaf.schema) || TypeGuard.IsNumber(leaf.schema)) {
    const n = raw.trim() === "" ? Number.NaN : Number(raw);
    if (!Number.isFinite(n)) fail(field, raw, source, "must be a number");
    return n;
  }
  if (TypeGuard.IsArray(leaf.schema)) {
    // Lists come as comma-separated values from the environment and flags.
    return raw
      .split(",")
      .map((v) => v.trim())
      .filter((v) => v !== "");
  }
  if (TypeGuard.IsBoolean(leaf.schema)) {
    if (/^(true|1|yes|on)$/i.test(raw)) return true;
    if (/^(false|0|no|off)$/i.test(raw)) return false;
    fail(field, raw, source, "must be true or false");
  }
  return raw;
}

function setPath(tree: Record<string, unknown>, path: string[], value: unknown): void {
  let node = tree;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== "object" || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1] as string] = value;
}

/** The rule a value broke, in words, from the schema rather than the validator's phrasing. */
function ruleFor(schema: TSchema, value: unknown, message: string): string {
  if (/^Unexpected property/.test(message)) return "is not a known setting";
  if (Array.isArray(schema.anyOf) && schema.anyOf.every((s: TSchema) => "const" in s)) {
    return `must be one of ${schema.anyOf.map((s: TSchema) => JSON.stringify(s.const)).join(", ")}`;
  }
  if (schema.type === "integer" || schema.type === "number") {
    if (typeof value !== "number")
      return `must be a ${schema.type === "integer" ? "whole number" : "number"}`;
    if (schema.type === "integer" && !Number.isInteger(value)) return "must be a whole number";
    const low =
      schema.exclusiveMinimum !== undefined
        ? `greater than ${schema.exclusiveMinimum}`
        : `at least ${schema.minimum}`;
    const lowOk = schema.minimum === undefined && schema.exclusiveMinimum === undefined;
    const range = lowOk
      ? `at most ${schema.maximum}`
      : schema.maximum === undefined
        ? low
        : `${low} and at most ${schema.maximum}`;
    return `must be ${range}`;
  }
  if (schema.type === "string" && typeof value !== "string") return "must be a string";
  if (typeof schema.pattern === "string") {
    return `must match ${schema.pattern}${schema.description ? `: ${schema.description}` : ""}`;
  }
  return message.replace(/^Expected/, "must be");
}

function readToml(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw kianaError(
      "CONFIG_UNREADABLE",
      `cannot read config file ${file}: ${(err as Error).message}`,
      { file },
      err,
    );
  }
  try {
    return parseToml(text) as Record<string, unknown>;
  } catch (err) {
    const e = err as Error & { line?: number; column?: number };
    throw kianaError(
      "CONFIG_INVALID",
      `${file}: not valid TOML at line ${e.line ?? "?"}, column ${e.column ?? "?"}: ${e.message.split("\n")[0]}`,
      { file, line: e.line, column: e.column },
      err,
    );
  }
}

export function loadConfig(opts: LoadConfigOptions = {}): Readonly<KianaConfig> {
  const env = opts.env ?? process.env;
  const flags = opts.flags ?? {};
  const cwd = opts.cwd ?? process.cwd();
  const deviceFile = opts.deviceConfigFile ?? DEVICE_CONFIG_FILE;
  const onDevice = existsSync(deviceFile);

  const dataDir = resolve(cwd, flags.data ?? env.KIANA_DATA ?? (onDevice ? DEVICE_DATA_DIR : ".kiana"));
  const explicitFile = flags.config ?? env.KIANA_CONFIG;
  let configFile: string | null = null;
  if (explicitFile) configFile = resolve(cwd, explicitFile);
  else if (onDevice) configFile = deviceFile;
  else if (existsSync(join(dataDir, "kiana.toml"))) configFile = join(dataDir, "kiana.toml");

  const tree: Record<string, unknown> = configFile ? readToml(configFile) : {};
  const sources = new Map<string, string>();
  for (const leaf of LEAVES) sources.set(leaf.path.join("."), configFile ?? "defaults");

  for (const leaf of LEAVES) {
    const name = envNameFor(leaf.path);
    const raw = env[name];
    if (raw === undefined) continue;
    setPath(tree, leaf.path, coerce(leaf, raw, name));
    sources.set(leaf.path.join("."), name);
  }

  const sets = Object.entries(flags).flatMap(([k, v]) => {
    if (k === "set") return v.split("\u0000");
    const target = SHORTCUTS[k];
    return target ? [`${target}=${v}`] : [];
  });
  for (const assignment of sets) {
    const eq = assignment.indexOf("=");
    const field = eq > 0 ? assignment.slice(0, eq) : assignment;
    const leaf = LEAVES.find((l) => l.path.join(".") === field);
    if (!leaf || eq < 0)
      fail(field, assignment.slice(eq + 1), "--set", "is not a known setting (use --set section.key=value)");
    setPath(tree, leaf.path, coerce(leaf, assignment.slice(eq + 1), `--set ${field}`));
    sources.set(field, `--set ${field}`);
  }

  const withDefaults = Value.Default(ConfigSchema, structuredClone(tree)) as Record<string, unknown>;
  const first = Value.Errors(ConfigSchema, withDefaults).First();
  if (first) {
    const field = first.path.replace(/^\//, "").split("/").join(".") || "(root)";
    // An element of a list reports the list's source (mesh.revoked.2 → mesh.revoked).
    const source =
      sources.get(field) ?? sources.get(field.replace(/(\.\d+)+$/, "")) ?? configFile ?? "defaults";
    fail(field, first.value, source, ruleFor(first.schema, first.value, first.message));
  }
  const config = { ...(withDefaults as object), dataDir, configFile } as KianaConfig;
  return deepFreeze(config);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
