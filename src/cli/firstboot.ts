// `kiana firstboot [--boot DIR] [--root DIR] [--data DIR]`: run once by kiana-firstboot.service
// to apply the seed on the boot partition. Exit 0 applied or nothing to do, 78 bad seed, 1 failed.
import { resolve } from "node:path";
import { CONFIG_EXIT_CODE } from "../config/index.ts";
import { describeError, isKianaError } from "../errors.ts";

export const DEFAULT_BOOT_DIR = "/boot/firmware";

export async function firstbootCommand(flags: Record<string, string>): Promise<number> {
  const { applyFirstboot } = await import("../seed/firstboot.ts");
  const root = resolve(flags.root ?? "/");
  try {
    const result = await applyFirstboot({
      bootDir: resolve(flags.boot ?? DEFAULT_BOOT_DIR),
      root,
      dataDir: flags.data ? resolve(flags.data) : undefined,
      log: (line) => process.stdout.write(`kiana firstboot: ${line}\n`),
      // Only the running system has units to reload; a --root target is configured for its next boot.
      live: root === "/",
    });
    if (result.state === "no-seed")
      process.stdout.write("kiana firstboot: no seed on the boot partition; nothing to do\n");
    return 0;
  } catch (err) {
    process.stderr.write(`kiana firstboot: ${describeError(err)}\n`);
    return isKianaError(err, "SEED_INVALID") ? CONFIG_EXIT_CODE : 1;
  }
}
