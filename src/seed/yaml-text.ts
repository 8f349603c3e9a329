// A small block-style YAML writer for the seed's cloud-init files. Every string is double-quoted
// (JSON escaping is valid YAML), so YAML 1.1 readers such as cloud-init's PyYAML never turn a
// password like 2024-01-01 or an SSID like "on" into a date or a boolean.
type Yaml = string | number | boolean | Yaml[] | { [key: string]: Yaml | undefined };

const SIMPLE_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;
// YAML 1.1 reads these bare words as booleans or null, even as keys.
const AMBIGUOUS = /^(y|n|yes|no|on|off|true|false|null)$/i;
const key = (k: string) => (SIMPLE_KEY.test(k) && !AMBIGUOUS.test(k) ? k : JSON.stringify(k));
const scalar = (v: string | number | boolean) => (typeof v === "string" ? JSON.stringify(v) : String(v));
const isScalar = (v: Yaml): v is string | number | boolean => typeof v !== "object";

function lines(value: Yaml, indent: string): string[] {
  if (Array.isArray(value)) {
    if (value.length === 0) return [`${indent}[]`];
    return value.flatMap((item) => {
      if (isScalar(item)) return [`${indent}- ${scalar(item)}`];
      // The first line of a nested block goes on the dash's line, the rest align under it.
      const [first = "", ...rest] = lines(item, `${indent}  `);
      return [`${indent}- ${first.trimStart()}`, ...rest];
    });
  }
  if (isScalar(value)) return [`${indent}${scalar(value)}`];
  const entries = Object.entries(value).filter((e): e is [string, Yaml] => e[1] !== undefined);
  if (entries.length === 0) return [`${indent}{}`];
  return entries.flatMap(([k, v]) => {
    if (isScalar(v)) return [`${indent}${key(k)}: ${scalar(v)}`];
    if (Array.isArray(v) ? v.length === 0 : Object.keys(v).length === 0)
      return [`${indent}${key(k)}: ${Array.isArray(v) ? "[]" : "{}"}`];
    return [`${indent}${key(k)}:`, ...lines(v, `${indent}  `)];
  });
}

/** The YAML text of a plain value tree (strings, numbers, booleans, lists, mappings), ending in a newline. */
export function yamlText(value: unknown): string {
  return `${lines(value as Yaml, "").join("\n")}\n`;
}
