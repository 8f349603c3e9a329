import { expect, test } from "bun:test";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findOnPath, missingSystemPackages } from "./system-packages.ts";

test("a program counts as present only when executable on PATH", () => {
  const dir = mkdtempSync(join(tmpdir(), "kiana-path-"));
  writeFileSync(join(dir, "mosquitto"), "#!/bin/sh\n");
  writeFileSync(join(dir, "espeak-ng"), "not executable");
  chmodSync(join(dir, "mosquitto"), 0o755);
  expect(findOnPath("mosquitto", dir)).toBe(join(dir, "mosquitto"));
  expect(findOnPath("espeak-ng", dir)).toBeNull();
  const missing = missingSystemPackages("hub", dir).map((p) => p.pkg);
  expect(missing).toContain("espeak-ng");
  expect(missing).not.toContain("mosquitto");
  expect(missing).not.toContain("alsa-utils");
  expect(missingSystemPackages("satellite", dir).map((p) => p.pkg)).toContain("alsa-utils");
});
