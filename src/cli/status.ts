import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { KianaConfig } from "../config/index.ts";
import { capabilityLogger, type Logger } from "../platform/log.ts";
import { VERSION } from "../version.ts";
import { checkEnvironment, openCore } from "./core.ts";
import { PEERS_FILE } from "./run.ts";

export function readPeerSnapshot(
  dataDir: string,
): { at: number; peers: import("../mesh/mesh-node.ts").MeshPeer[] } | null {
  try {
    return JSON.parse(readFileSync(join(dataDir, PEERS_FILE), "utf8"));
  } catch {
    return null;
  }
}

export async function printStatus(config: Readonly<KianaConfig>, log: Logger, json: boolean): Promise<void> {
  const { formatFingerprint, formatPublicKeys, loadMembership, loadNodeKeys } = await import(
    "../identity/index.ts"
  );
  const { createSetupCodeKeeper } = await import("../admin/setup-code.ts");
  const keys = loadNodeKeys({ dataDir: config.dataDir, log: capabilityLogger(log, "identity") });
  const membership = loadMembership(config.dataDir);
  const enrolment = membership
    ? {
        fleet: membership.fleet.fleetId,
        name: membership.certificate.name,
        role: membership.certificate.role,
        expiresAt: new Date(membership.certificate.expiresAt).toISOString(),
      }
    : null;
  const setupCode = createSetupCodeKeeper({ dataDir: config.dataDir }).peek();
  const host = config.admin.host === "0.0.0.0" ? "127.0.0.1" : config.admin.host;
  const url = `http://${host}:${config.admin.port}/`;
  let running: boolean;
  try {
    const res = await fetch(`${url}healthz`, { signal: AbortSignal.timeout(1500) });
    running = res.status === 200 || res.status === 503;
  } catch {
    running = false;
  }
  const report = {
    version: VERSION,
    node: config.node,
    fingerprint: keys.fingerprint,
    publicKeys: formatPublicKeys(keys),
    enrolment,
    dataDir: config.dataDir,
    configFile: config.configFile,
    adminUrl: url,
    running,
    setupCode,
    peers: running ? (readPeerSnapshot(config.dataDir)?.peers ?? []) : [],
  };
  if (json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return;
  }
  const lines = [
    `kiana ${VERSION}`,
    `node         ${config.node.name} (${config.node.role}, fleet ${config.node.fleet})`,
    `fingerprint  ${formatFingerprint(keys.fingerprint)}`,
    `data         ${config.dataDir}`,
    `config       ${config.configFile ?? "none (embedded defaults)"}`,
    `admin page   ${url} (${running ? "running" : "not running"})`,
  ];
  lines.push(
    enrolment
      ? `fleet        ${enrolment.fleet} as ${enrolment.name} (${enrolment.role}), certificate valid until ${enrolment.expiresAt}`
      : `fleet        not enrolled; give this line to \`kiana fleet enroll --pubkey\`:\n             ${formatPublicKeys(keys)}`,
  );
  if (setupCode) lines.push(`setup code   ${setupCode} (first-run setup is pending)`);
  if (running) {
    lines.push(report.peers.length === 0 ? "peers        none seen yet" : "peers");
    for (const p of report.peers) {
      lines.push(
        `  ${p.name.padEnd(16)} ${p.role.padEnd(10)} ${p.state.padEnd(11)} ${p.addresses.join(", ")}`,
      );
    }
  }
  process.stdout.write(`${lines.join("\n")}\n`);
}

export async function joinFleetCommand(
  config: Readonly<KianaConfig>,
  log: Logger,
  flags: Record<string, string>,
): Promise<number> {
  const { joinThisDevice, runFleetCommand } = await import("../identity/fleet-cli.ts");
  const identity = await import("../identity/index.ts");
  const keys = identity.loadNodeKeys({ dataDir: config.dataDir, log: capabilityLogger(log, "identity") });
  return runFleetCommand("join", flags, {
    out: (t) => process.stdout.write(t),
    env: process.env,
    now: Date.now(),
    // The same function as POST /api/v1/fleet/join, so both accept and refuse the same certificates.
    join: (certificateText, fleetInfoText) =>
      joinThisDevice({ dataDir: config.dataDir, keys, certificateText, fleetInfoText, now: Date.now() }),
  });
}

export async function doctor(config: Readonly<KianaConfig>, log: Logger, json: boolean): Promise<number> {
  const { buildDoctorReport, formatDoctorReport } = await import("../platform/doctor.ts");
  const { readHardwareProfile } = await import("../platform/hardware-profile.ts");
  const { health, store } = openCore(config, log);
  const { engines, missing } = await checkEnvironment(config, health, log);
  const report = buildDoctorReport({
    version: VERSION,
    role: config.node.role,
    dataDir: config.dataDir,
    configFile: config.configFile,
    profile: await readHardwareProfile(),
    engines: engines.probe(),
    missing,
    health: health.list(),
  });
  store.close();
  process.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : formatDoctorReport(report));
  return report.ok ? 0 : 1;
}
