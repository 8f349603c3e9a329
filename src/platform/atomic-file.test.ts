import { expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeFileAtomic } from "./atomic-file.ts";

test("replaces the whole file with the exact mode and leaves no temporary file", () => {
  const dir = mkdtempSync(join(tmpdir(), "kiana-atomic-"));
  const path = join(dir, "passwords");
  writeFileSync(path, "old contents, longer than the new ones\n");
  writeFileAtomic(path, "new\n", 0o640);
  expect(readFileSync(path, "utf8")).toBe("new\n");
  expect(statSync(path).mode & 0o777).toBe(0o640);
  expect(readdirSync(dir)).toEqual(["passwords"]);
});
