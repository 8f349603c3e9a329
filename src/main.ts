// The composition root and the CLI: the only place that builds adapters and wires capabilities.
// `kiana run|status|doctor|version`; every other module gets what it needs passed in.
import { randomBytes } from "node:crypto";
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { healthzResponse } from "./admin/healthz.ts";
import { CONFIG_EXIT_CODE, type KianaConfig, loadConfig } from "./config/index.ts";
import { describeError, isKianaError, kianaError } from "./errors.ts";
import type { EngineRegistry } from "./platform/engines.ts";
import { createHealthRegistry, type HealthRegistry } from "./platform/health.ts";
import { capabilityLogger, createLogger, type Logger } from "./platform/log.ts";
import { openStore, type Store } from "./store/index.ts";
import { VERSION } from "./version.ts";

// Everything else is imported where it is first needed: `kiana run` answers /healthz once the
// config and the database are checked, without waiting for the admin app, engines or hardware probes.

const USAGE = `kiana ${VERSION}: private, offline AI assistant runtime

usage: kiana <command> [options]

commands:
  run        start this node (admin page, API)
  status     show this node's identity, address and whether it is running
  doctor     check hardware, native engines, system packages and health (--json)
  version    print the version
  fleet      init | enroll | join: fleet authority and enrolment certificates

options:
  --config FILE       config file (default /etc/kiana/kiana.toml on a device, <data>/kiana.toml in dev)
  --data DIR          data directory (default /var/lib/kiana on a device, ./.kiana in dev; or KIANA_DATA)
  --port N            admin port (admin.port), --host ADDR (admin.host), --role hub|node|satellite
  --set key=value     any config field, e.g. --set log.level=debug (repeatable)
  --json              machine-readable output (status, doctor)
`;

interface Args {
  command: string;
  /** Words after the command, e.g. `init` in `kiana fleet init`. */
  rest: string[];
  flags: Record<string, string>;
  json: boolean;
}

const VALUE_FLAGS = new Set([
  ...["config", "data", "port", "host", "role", "name", "fleet", "log-level", "set"],
  ...["dir", "pubkey", "days", "out", "cert", "fleet-info"],
]);

export function parseArgs(argv: string[]): Args {
  const flags: Record<string, string> = {};
  const words: string[] = [];
  let help = false;
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--json") json = true;
    else if (arg === "-h" || arg === "--help") help = true;
    else if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = arg.slice(2, eq > 0 ? eq : undefined);
      if (!VALUE_FLAGS.has(name)) throw kianaError("CLI_USAGE", `unknown option --${name}`);
      const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined) throw kianaError("CLI_USAGE", `--${name} needs a value`);
      flags[name] = name === "set" && flags.set ? `${flags.set}\u0000${value}` : value;
    } else words.push(arg);
  }
  const [command = "run", ...rest] = help ? ["help"] : words;
  if (command !== "fleet" && rest.length > 0) throw kianaError("CLI_USAGE", `unexpected argument ${rest[0]}`);
  return { command, rest, flags, json };
}

function openCore(config: Readonly<KianaConfig>, log: Logger): { health: HealthRegistry; store: Store } {
  const health = createHealthRegistry();
  const store = openStore({
    path: join(config.dataDir, "kiana.db"),
    busyTimeoutMs: config.store.busyTimeoutMs,
    health,
    log: capabilityLogger(log, "store"),
  });
  return { health, store };
}

/** Native engines and system packages: what is missing turns into health warnings. */
async function checkEnvironment(
  config: Readonly<KianaConfig>,
  health: HealthRegistry,
  log: Logger,
): Promise<EngineRegistry> {
  const { createEngineRegistry, defaultLibDir } = await import("./platform/engines.ts");
  const { missingSystemPackages } = await import("./platform/system-packages.ts");
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
  return engines;
}

type Handler = (request: Request) => Response | Promise<Response>;

function listen(config: Readonly<KianaConfig>, routes: Record<string, Handler>, fetch: Handler) {
  try {
    return Bun.serve({ hostname: config.admin.host, port: config.admin.port, routes, fetch });
  } catch (err) {
    const inUse = /EADDRINUSE|in use/i.test(describeError(err));
    throw kianaError(
      "CONFIG_INVALID",
      inUse
        ? `admin.port ${config.admin.port} on ${config.admin.host} is already in use; stop the other program or choose another port (--port, KIANA_ADMIN_PORT)`
        : `cannot listen on ${config.admin.host}:${config.admin.port}: ${describeError(err)}`,
      { host: config.admin.host, port: config.admin.port },
      err,
    );
  }
}

async function runNode(config: Readonly<KianaConfig>, log: Logger): Promise<void> {
  const startedAt = Date.now();
  const { health, store } = openCore(config, log);

  let server: ReturnType<typeof Bun.serve> | undefined;
  let handler: Handler | undefined;
  let meshJoin: ((body: Uint8Array) => { status: number; json: unknown }) | undefined;
  // Requests other than /healthz that arrive while the admin app loads wait for it.
  const starting = Promise.withResolvers<Handler>();
  server = listen(
    config,
    {
      "/healthz": () => healthzResponse(health),
      // Authorised by the signed envelope in the body, not by a login: see src/mesh/join.ts.
      "/api/v1/mesh/join": async (request) => {
        if (request.method !== "POST" || !meshJoin) {
          return Response.json(
            {
              error: {
                code: "MESH_JOIN_REFUSED",
                message: "this device admits no devices (not an enrolled hub)",
              },
            },
            { status: 404 },
          );
        }
        const body = new Uint8Array(await request.arrayBuffer());
        if (body.length > 64 * 1024)
          return Response.json(
            { error: { code: "MESH_JOIN_REFUSED", message: "join request too large" } },
            { status: 413 },
          );
        const answer = meshJoin(body);
        return Response.json(answer.json, { status: answer.status });
      },
    },
    async (request) => {
      handler ??= await starting.promise;
      return handler(request);
    },
  );

  // Let the listener serve /healthz before the rest of the start-up takes the event loop.
  await new Promise((resolve) => setTimeout(resolve, 0));
  const [admin, identity, security, hw, sysStats, systemd, watchdogs] = await Promise.all([
    import("./admin/index.ts"),
    import("./identity/index.ts"),
    import("./security/index.ts"),
    import("./platform/hardware-profile.ts"),
    import("./platform/system-stats.ts"),
    import("./platform/sd-notify.ts"),
    import("./platform/watchdog.ts"),
  ]);
  const notifier = systemd.createSdNotifier({ log: capabilityLogger(log, "systemd") });
  notifier.status("starting");
  const keys = identity.loadNodeKeys({ dataDir: config.dataDir, log: capabilityLogger(log, "identity") });
  const engines = await checkEnvironment(config, health, log);
  const sessionMs = config.admin.sessionHours * 3_600_000;
  const accounts = admin.createAccounts({ store, sessionMs });
  const setupCode = admin.createSetupCodeKeeper({ dataDir: config.dataDir });
  const audit = security.createAuditLog({ store });
  const mesh = config.mesh.enabled
    ? await startMesh({ config, store, keys, health, log, audit, port: server.port ?? config.admin.port })
    : undefined;
  meshJoin = mesh?.node.join;
  // `kiana status` runs as another process: it reads the peer table from this snapshot.
  const stopPeerSnapshot = mesh ? writePeerSnapshots(config.dataDir, mesh.node) : () => {};
  // Read on first use: systeminformation is slow to load and rarely needed.
  let profile: ReturnType<typeof hw.readHardwareProfile> | undefined;

  const status = async (): Promise<import("./admin/index.ts").AdminStatus> => {
    profile ??= hw.readHardwareProfile();
    const [p, stats] = await Promise.all([profile, sysStats.readSystemStats({ sampleMs: 100 })]);
    return {
      node: {
        name: config.node.name,
        role: config.node.role,
        fleet: config.node.fleet,
        fingerprint: identity.formatFingerprint(keys.fingerprint),
      },
      version: VERSION,
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
      profileRows: hw.summarizeProfile(p),
      engines: engines.probe().map(({ name, state, reason }) => ({ name, state, reason })),
      peers: mesh?.node.peers() ?? [],
      refusals: mesh?.refusals.counts() ?? [],
      stats: {
        cpuLoadPercent: stats.cpuLoadPercent,
        memoryUsedBytes: stats.memory.usedBytes,
        memoryTotalBytes: stats.memory.totalBytes,
        temperatureCelsius: stats.temperatureCelsius,
      },
    };
  };
  const app = admin.createAdminApp({
    accounts,
    setupCode,
    limiter: security.createLoginLimiter(),
    audit,
    health,
    log: capabilityLogger(log, "admin"),
    metricsToken: config.admin.metricsToken,
    sessionMs,
    status,
    clientKey: (request) => server?.requestIP(request)?.address ?? "unknown",
    sendDirect: mesh
      ? (to, type, payload) => {
          const direct = mesh.node.direct();
          if (!direct)
            throw kianaError("MESH_PEER_UNKNOWN", "this device has not joined the fleet's broker yet");
          return direct.send(to, type, payload);
        }
      : undefined,
  });
  starting.resolve((request) => app.handle(request));

  const shownHost = config.admin.host === "0.0.0.0" ? hostname() : config.admin.host;
  const url = `http://${shownHost.includes(":") ? `[${shownHost}]` : shownHost}:${server.port}/`;
  log.info(
    { url, dataDir: config.dataDir, role: config.node.role, fingerprint: keys.fingerprint },
    "kiana is running",
  );
  if (!accounts.isSetUp()) {
    const code = setupCode.ensure();
    process.stdout.write(
      `\nkiana admin page: ${url}\nOne-time setup code: ${code}\n(set the ${admin.ADMIN_USER} password there; \`kiana status\` shows the code again)\n\n`,
    );
  } else {
    process.stdout.write(`\nkiana admin page: ${url}\n\n`);
  }

  notifier.ready(`admin page on ${url}`);
  // A wedged database stops the pings, so systemd restarts us.
  const watchdog = watchdogs.startWatchdog({
    notifier,
    healthy: () => store.db.query("SELECT 1 AS ok").get() !== null,
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "stopping");
    notifier.stopping();
    watchdog.stop();
    stopPeerSnapshot();
    // Goodbyes over mDNS and a clean broker disconnect, but never more than a few seconds.
    void Promise.race([mesh?.node.stop(), Bun.sleep(3000)]).finally(() => {
      server?.stop(true);
      store.close();
      notifier.close();
      process.exit(0);
    });
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

/** The mesh: mDNS always; once enrolled, the broker (a hub runs it) and the fleet's roster. */
async function startMesh(o: {
  config: Readonly<KianaConfig>;
  store: Store;
  keys: import("./identity/index.ts").NodeKeys;
  health: HealthRegistry;
  log: Logger;
  audit: import("./security/index.ts").AuditLog;
  port: number;
}) {
  const { config, store, keys, health } = o;
  const log = capabilityLogger(o.log, "mesh");
  const [identity, meshNode, mdns, mqtt, hubBroker, replay, refusals, clock] = await Promise.all([
    import("./identity/index.ts"),
    import("./mesh/mesh-node.ts"),
    import("./mesh/adapters/mdns.ts"),
    import("./mesh/adapters/mqtt.ts"),
    import("./mesh/broker/hub-broker.ts"),
    import("./mesh/replay-guard.ts"),
    import("./mesh/refusals.ts"),
    import("./platform/clock.ts"),
  ]);
  let membership: import("./identity/index.ts").Membership | null = null;
  try {
    membership = identity.loadMembership(config.dataDir);
  } catch (err) {
    health.set({
      code: "MESH_MEMBERSHIP_INVALID",
      severity: "error",
      message: `The stored fleet certificate cannot be read: ${describeError(err)}`,
      hint: "Run `kiana fleet join` again with the certificate and fleet.json from the operator.",
    });
  }
  const refusalLog = refusals.createRefusalLog({ audit: o.audit, now: Date.now });
  const role = membership?.certificate.role ?? config.node.role;
  const name = membership?.certificate.name ?? config.node.name;
  const bridge = config.broker.bridgeAddress
    ? {
        name: `${name}-bridge`,
        address: config.broker.bridgeAddress,
        username: config.broker.bridgeUsername,
        password: config.broker.bridgePassword,
        fleet: membership?.fleet.fleetId ?? config.node.fleet,
      }
    : undefined;
  const node = meshNode.createMeshNode({
    node: { name, role, fleet: config.node.fleet, version: VERSION, adminPort: o.port },
    keys,
    membership,
    hubUrl: config.mesh.hubUrl,
    revoked: config.mesh.revoked,
    heartbeatMs: config.mesh.heartbeatSeconds * 1000,
    store,
    random: (n) => new Uint8Array(randomBytes(n)),
    addresses: mdns.defaultInterfaces,
    clock: clock.systemClock,
    log,
    health,
    sequence: replay.createSequenceCounter(store, { sender: keys.fingerprint }),
    replay: replay.createSqliteReplayGuard({ store }),
    onRefused: (from, reason, detail) => refusalLog.refuse(from, reason, detail),
    adapters: {
      mdns: (opts) => mdns.createMdns(opts),
      mqtt: (opts) => mqtt.createMqttTransport(opts),
      brokerHost: config.broker.host === "0.0.0.0" ? "127.0.0.1" : config.broker.host,
      hubBroker:
        role === "hub" && membership
          ? hubBroker.createHubBroker({
              dataDir: config.dataDir,
              fleet: membership.fleet.fleetId,
              hub: { node: name, fingerprint: keys.fingerprint, keys },
              listen: { host: config.broker.host, port: config.broker.port },
              managed: config.broker.managed,
              bridge,
              log,
              // As root (dev machines, tests) mosquitto would drop to its own user and lose access to our files.
              runAsUser: process.getuid?.() === 0 ? "root" : undefined,
            })
          : undefined,
    },
  });
  await node.start();
  return { node, refusals: refusalLog };
}

const PEERS_FILE = "peers.json";

function writePeerSnapshots(dataDir: string, node: import("./mesh/mesh-node.ts").MeshNode): () => void {
  let last = "";
  const write = () => {
    const peers = node.peers();
    const text = JSON.stringify(peers);
    if (text === last) return;
    last = text;
    const file = join(dataDir, PEERS_FILE);
    try {
      writeFileSync(`${file}.tmp`, JSON.stringify({ at: Date.now(), peers }));
      renameSync(`${file}.tmp`, file);
    } catch {
      // A full disk must not stop the node; status then shows an older list.
    }
  };
  write();
  const timer = setInterval(write, 2000);
  return () => {
    clearInterval(timer);
    rmSync(join(dataDir, PEERS_FILE), { force: true });
  };
}

function readPeerSnapshot(
  dataDir: string,
): { at: number; peers: import("./mesh/mesh-node.ts").MeshPeer[] } | null {
  try {
    return JSON.parse(readFileSync(join(dataDir, PEERS_FILE), "utf8"));
  } catch {
    return null;
  }
}

async function printStatus(config: Readonly<KianaConfig>, log: Logger, json: boolean): Promise<void> {
  const { formatFingerprint, formatPublicKeys, loadMembership, loadNodeKeys } = await import(
    "./identity/index.ts"
  );
  const { createSetupCodeKeeper } = await import("./admin/setup-code.ts");
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

async function joinFleetCommand(
  config: Readonly<KianaConfig>,
  log: Logger,
  flags: Record<string, string>,
): Promise<number> {
  const { runFleetCommand } = await import("./identity/fleet-cli.ts");
  const identity = await import("./identity/index.ts");
  const keys = identity.loadNodeKeys({ dataDir: config.dataDir, log: capabilityLogger(log, "identity") });
  return runFleetCommand("join", flags, {
    out: (t) => process.stdout.write(t),
    env: process.env,
    now: Date.now(),
    join(certificateText, fleetInfoText) {
      const m = identity.joinFleet({
        dataDir: config.dataDir,
        keys,
        certificateText,
        fleetInfoText,
        now: Date.now(),
      });
      return { fleetId: m.fleet.fleetId, name: m.certificate.name, role: m.certificate.role };
    },
  });
}

async function doctor(config: Readonly<KianaConfig>, log: Logger, json: boolean): Promise<number> {
  const { buildDoctorReport, formatDoctorReport } = await import("./platform/doctor.ts");
  const { readHardwareProfile } = await import("./platform/hardware-profile.ts");
  const { missingSystemPackages } = await import("./platform/system-packages.ts");
  const { health, store } = openCore(config, log);
  const engines = await checkEnvironment(config, health, log);
  const report = buildDoctorReport({
    version: VERSION,
    role: config.node.role,
    dataDir: config.dataDir,
    configFile: config.configFile,
    profile: await readHardwareProfile(),
    engines: engines.probe(),
    missing: missingSystemPackages(config.node.role),
    health: health.list(),
  });
  store.close();
  process.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : formatDoctorReport(report));
  return report.ok ? 0 : 1;
}

export async function main(argv: string[]): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (err) {
    process.stderr.write(`kiana: ${describeError(err)}\n\n${USAGE}`);
    return 64;
  }
  if (args.command === "help") {
    process.stdout.write(USAGE);
    return 0;
  }
  if (args.command === "version") {
    process.stdout.write(`kiana ${VERSION}\n`);
    return 0;
  }
  if (args.command === "fleet" && args.rest[0] !== "join") {
    const { runFleetCommand } = await import("./identity/fleet-cli.ts");
    try {
      return runFleetCommand(args.rest[0], args.flags, {
        out: (t) => process.stdout.write(t),
        env: process.env,
        now: Date.now(),
      });
    } catch (err) {
      process.stderr.write(`kiana: ${describeError(err)}\n`);
      return isKianaError(err, "CLI_USAGE") ? 64 : 1;
    }
  }
  if (!["run", "status", "doctor", "fleet"].includes(args.command)) {
    process.stderr.write(`kiana: unknown command ${args.command}\n\n${USAGE}`);
    return 64;
  }
  let config: Readonly<KianaConfig>;
  try {
    config = loadConfig({ flags: args.flags });
  } catch (err) {
    process.stderr.write(`kiana: config error: ${describeError(err)}\n`);
    return CONFIG_EXIT_CODE;
  }
  // Commands that print for people keep the log quiet; `run` logs what it does.
  const log = createLogger({
    level: args.command === "run" ? config.log.level : "warn",
    format: args.command !== "run" ? "pretty" : config.log.format === "auto" ? undefined : config.log.format,
    write: args.command === "run" ? undefined : (line) => process.stderr.write(line),
  });
  try {
    if (args.command === "run") {
      await runNode(config, log);
      return -1;
    }
    if (args.command === "status") {
      await printStatus(config, log, args.json);
      return 0;
    }
    if (args.command === "fleet") return await joinFleetCommand(config, log, args.flags);
    return await doctor(config, log, args.json);
  } catch (err) {
    const code = isKianaError(err) ? err.code : "UNEXPECTED";
    if (args.command === "run") log.fatal({ code, err: describeError(err) }, "kiana stopped");
    process.stderr.write(`kiana: ${describeError(err)}\n`);
    return isKianaError(err, "CONFIG_INVALID") ? CONFIG_EXIT_CODE : 1;
  }
}

if (import.meta.main) {
  const code = await main(process.argv.slice(2));
  // -1: `run` keeps the process alive until a signal.
  if (code >= 0) process.exit(code);
}
