import { expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { main } from "../main.ts";
import { testTarget } from "../seed/firstboot.test-helper.ts";
import { testSeed } from "../seed/seed.test-helper.ts";

test("kiana firstboot --boot --root --data applies a seed (exit 0), then finds nothing to do (exit 0)", async () => {
  const t = testTarget(testSeed({ name: "porch", issuedAt: Date.now() }));
  const args = ["firstboot", "--boot", t.boot, "--root", t.root, "--data", t.data];
  expect(await main(args)).toBe(0);
  expect(readFileSync(join(t.root, "etc/hostname"), "utf8")).toBe("porch\n");
  expect(existsSync(join(t.boot, "kiana.toml"))).toBe(false);
  expect(await main(args)).toBe(0);
}, 30_000);

test("a bad seed exits 78 like a bad config, and the data dir defaults to <root>/var/lib/kiana", async () => {
  const t = testTarget(testSeed());
  writeFileSync(join(t.boot, "meta-data"), 'instance-id: "a b"\n');
  expect(await main(["firstboot", "--boot", t.boot, "--root", t.root])).toBe(78);
  expect(readFileSync(join(t.root, "var/lib/kiana/firstboot.json"), "utf8")).toContain(
    "meta-data: instance-id",
  );
});
