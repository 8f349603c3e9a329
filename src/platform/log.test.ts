import { expect, test } from "bun:test";
import { capabilityLogger, createLogger, prettyLine } from "./log.ts";

test("json format writes one parsable line per record, tagged with the capability", () => {
  const lines: string[] = [];
  const log = capabilityLogger(createLogger({ format: "json", write: (l) => lines.push(l) }), "store");
  log.info({ table: "audit" }, "opened");
  expect(lines).toHaveLength(1);
  const rec = JSON.parse(lines[0] ?? "");
  expect(rec).toMatchObject({ cap: "store", msg: "opened", table: "audit", level: 30 });
});

test("pretty format is readable and keeps extra fields", () => {
  const line = prettyLine(JSON.stringify({ level: 40, time: 0, cap: "admin", msg: "slow", ms: 12 }));
  expect(line).toBe("00:00:00 WARN  [admin] slow ms=12\n");
});
