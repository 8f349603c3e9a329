import { join } from "node:path";
import type { KianaConfig } from "../config/index.ts";
import type { EngineRegistry } from "../platform/engines.ts";
import { createHealthRegistry, type HealthRegistry } from "../platform/health.ts";
import { capabilityLogger, type Logger } from "../platform/log.ts";
import type { SystemPackage } from "../platform/system-packages.ts";
import { firstbootHealth } from "../seed/firstboot-status.ts";
import { openStore, type Store } from "../store/index.ts";

export function openCore(
  config: Readonly<KianaConfig>,
  log: Logger,
): { health: HealthRegistry; store: Store } {
  const health = createHealthRegistry();
  const store = openStore({
    path: join(config.dataDir, "kiana.db"),
    busyTimeoutMs: config.store.busyTimeoutMs,
    health,
    log: capabilityLogger(log, "store"),
  });
  // A seed that failed at first boot stays visible on the admin page and in `kiana doctor`.
  const firstboot = firstbootHealth(config.dataDir);
  if (firstboot) health.set(firstboot);
  return { health, store };
}

/** Native engines and system packages: what is missing turns into health warnings. */
export async function checkEnvironment(
  config: Readonly<KianaConfig>,
  health: HealthRegistry,
  log: Logger,
): Promise<{ engines: EngineRegistry; missing: SystemPackage[] }> {
  const { createEngineRegistry, defaultLibDir } = await import("../platform/engines.ts");
  const { missingSystemPackages } = await import("../platform/system-packages.ts");
  const engines = createEngineRegistry({ libDir: defaultLibDir(), log: capabilityLogger(log, "engines") });
  for (const e of engines.probe()) {
    if (e.state === "missing" || e.state === "failed") {
      health.set({
        code: `ENGINE_MISSING:${e.name}`,
        severity: "warning",
        message: `The ${e.name} engine is not available, so what needs it is off: ${e.reason ?? "unknown reason"}`,
        hint: "Reinstall the kiana bundle for this architecture (its lib/ folder holds the engines).",
      });
    }
  }
  const missing = missingSystemPackages(config.node.role);
  if (missing.length > 0) {
    health.set({
      code: "SYSTEM_PACKAGES_MISSING",
      severity: "warning",
      message: `Missing for the ${config.node.role} role: ${missing.map((p) => `${p.pkg} (${p.purpose})`).join(", ")}`,
      hint: `apt-get install ${missing.map((p) => p.pkg).join(" ")}`,
    });
  }
  return { engines, missing };
}
