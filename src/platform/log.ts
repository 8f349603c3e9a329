// Logging: JSON lines on stdout for journald, or short readable lines in a dev terminal.
// No pino transports: they run in worker threads, which do not work in a compiled binary.
import pino, { type Logger } from "pino";

export type { Logger } from "pino";

export type LogFormat = "json" | "pretty";

export interface LogOptions {
  level?: string;
  format?: LogFormat;
  /** Where lines go; stdout by default. */
  write?: (line: string) => void;
}

const LEVEL_NAMES: Record<number, string> = {
  10: "TRACE",
  20: "DEBUG",
  30: "INFO",
  40: "WARN",
  50: "ERROR",
  60: "FATAL",
};
const OMIT = new Set(["level", "time", "pid", "hostname", "msg", "cap"]);

/** Turns one pino JSON line into `12:00:01 INFO  [store] message key=value`. */
export function prettyLine(json: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const time = new Date(Number(rec.time ?? Date.now())).toISOString().slice(11, 19);
  const level = (LEVEL_NAMES[Number(rec.level)] ?? String(rec.level)).padEnd(5);
  const cap = rec.cap ? `[${String(rec.cap)}] ` : "";
  const extra = Object.entries(rec)
    .filter(([k]) => !OMIT.has(k))
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
  return `${time} ${level} ${cap}${String(rec.msg ?? "")}${extra ? ` ${extra}` : ""}\n`;
}

export function createLogger(opts: LogOptions = {}): Logger {
  const format = opts.format ?? (process.stdout.isTTY ? "pretty" : "json");
  const write = opts.write ?? ((line: string) => process.stdout.write(line));
  const stream = { write: format === "pretty" ? (s: string) => write(prettyLine(s)) : write };
  return pino({ level: opts.level ?? "info", base: undefined }, stream);
}

/** One child logger per capability, e.g. `capabilityLogger(root, "store")`. */
export function capabilityLogger(root: Logger, cap: string): Logger {
  return root.child({ cap });
}
