// Test fixture: a target root with the accounts an image has, and a boot partition with a seed.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../identity/test-fleet.test-helper.ts";
import type { Seed } from "./schema.ts";
import { renderSeedFiles } from "./seed-files.ts";

export const KIANA_UID = 990;

export function testTarget(seed: Seed): { root: string; boot: string; data: string } {
  const root = tempDir("kiana-root-");
  mkdirSync(join(root, "etc"), { recursive: true });
  writeFileSync(
    join(root, "etc/passwd"),
    `root:x:0:0:root:/root:/bin/bash\nkiana:x:${KIANA_UID}:${KIANA_UID}:kiana runtime:/var/lib/kiana:/usr/sbin/nologin\n`,
  );
  writeFileSync(
    join(root, "etc/group"),
    `root:x:0:\nadm:x:4:\naudio:x:29:\nsudo:x:27:\nkiana:x:${KIANA_UID}:\n`,
  );
  writeFileSync(join(root, "etc/shadow"), "root:*:19000:0:99999:7:::\nkiana:!:19000::::::\n", {
    mode: 0o640,
  });
  writeFileSync(join(root, "etc/gshadow"), "root:*::\nadm:*::\naudio:*::\nsudo:*::\nkiana:!::\n", {
    mode: 0o640,
  });
  writeFileSync(
    join(root, "etc/hosts"),
    "127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n::1\tlocalhost ip6-localhost\n",
  );
  mkdirSync(join(root, "etc/kiana"), { recursive: true });
  writeFileSync(join(root, "etc/kiana/kiana.toml"), '[log]\nlevel = "debug"\n');
  const boot = tempDir("kiana-boot-");
  for (const f of renderSeedFiles(seed)) writeFileSync(join(boot, f.path), f.bytes);
  writeFileSync(join(boot, "config.txt"), "arm_64bit=1\n");
  return { root, boot, data: join(root, "var/lib/kiana") };
}
