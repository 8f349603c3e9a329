// `kiana doctor`: everything a person needs to see why a capability is off, as text or JSON.
import type { EngineStatus } from "./engines.ts";
import { type HardwareProfile, summarizeProfile } from "./hardware-profile.ts";
import type { HealthEntry } from "./health.ts";
import type { SystemPackage } from "./system-packages.ts";

export interface DoctorReport {
  version: string;
  role: string;
  dataDir: string;
  configFile: string | null;
  profile: HardwareProfile;
  engines: EngineStatus[];
  missingPackages: { pkg: string; command: string; purpose: string }[];
  health: HealthEntry[];
  ok: boolean;
}

export function buildDoctorReport(
  input: Omit<DoctorReport, "missingPackages" | "ok"> & { missing: SystemPackage[] },
): DoctorReport {
  const { missing, ...rest } = input;
  return {
    ...rest,
    missingPackages: missing.map(({ pkg, command, purpose }) => ({ pkg, command, purpose })),
    ok: input.health.every((h) => h.severity !== "error"),
  };
}

export function formatDoctorReport(r: DoctorReport): string {
  const out: string[] = [
    `kiana ${r.version} (role ${r.role})`,
    `data: ${r.dataDir}`,
    `config: ${r.configFile ?? "none (embedded defaults)"}`,
    "",
  ];
  out.push("Hardware");
  for (const [k, v] of summarizeProfile(r.profile)) out.push(`  ${k.padEnd(13)} ${v}`);
  out.push("", "Engines");
  for (const e of r.engines)
    out.push(
      `  ${e.name.padEnd(13)} ${e.state}${e.version ? ` ${e.version}` : ""}${e.reason ? ` — ${e.reason}` : ""}`,
    );
  out.push("", "System packages");
  if (r.missingPackages.length === 0) out.push("  all present for this role");
  for (const p of r.missingPackages)
    out.push(`  missing ${p.pkg} (${p.command}: ${p.purpose}) — apt-get install ${p.pkg}`);
  out.push("", "Health");
  if (r.health.length === 0) out.push("  no problems");
  for (const h of r.health)
    out.push(`  ${h.severity.toUpperCase()} ${h.code}: ${h.message}${h.hint ? `\n      ${h.hint}` : ""}`);
  return `${out.join("\n")}\n`;
}
