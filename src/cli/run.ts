// `kiana run`: the running node. /healthz is answered as soon as the config and the database are
// checked; the admin app, keys, probes and the mesh load after, through dynamic imports.

import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { healthzResponse } from "../admin/healthz.ts";
import type { KianaConfig } from "../config/index.ts";
import { describeError, kianaError } from "../errors.ts";
import { writeFileAtomic } from "../platform/atomic-file.ts";
import type { HealthRegistry } from "../platform/health.ts";
import { capabilityLogger, type Logger } from "../platform/log.ts";
import type { Store } from "../store/index.ts";
import { VERSION } from "../version.ts";
import { checkEnvironment, openCore } from "./core.ts";

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

export async function runNode(config: Readonly<KianaConfig>, log: Logger): Promise<void> {
  const startedAt = Date.now();
  const { health, store } = openCore(config, log);

  let server: ReturnType<typeof Bun.serve> | undefined;
  let handler: Handler | undefined;
  let meshJoin: ((body: Uint8Array) => { status: number; json: unknown }) | undefined;
  let meshTransfers: ((request: Request) => Response) | undefined;
  // Requests other than /healthz that arrive while the admin app loads wait for it.
  const starting = Promise.withResolvers<Handler>();
  server = listen(
    config,
    {
      "/healthz": () => healthzResponse(health),
      // Each request carries a short-lived signed token from an enrolled peer: see src/mesh/transfer/auth.ts.
      "/kiana/v1/transfer/*": (request) => meshTransfers?.(request) ?? notRunning(),
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
    import("../admin/index.ts"),
    import("../identity/index.ts"),
    import("../security/index.ts"),
    import("../platform/hardware-profile.ts"),
    import("../platform/system-stats.ts"),
    import("../platform/sd-notify.ts"),
    import("../platform/watchdog.ts"),
  ]);
  const notifier = systemd.createSdNotifier({ log: capabilityLogger(log, "systemd") });
  notifier.status("starting");
  const keys = identity.loadNodeKeys({ dataDir: config.dataDir, log: capabilityLogger(log, "identity") });
  const { engines } = await checkEnvironment(config, health, log);
  const sessionMs = config.admin.sessionHours * 3_600_000;
  const accounts = admin.createAccounts({ store, sessionMs });
  const setupCode = admin.createSetupCodeKeeper({ dataDir: config.dataDir });
  const audit = security.createAuditLog({ store });
  const mesh = config.mesh.enabled
    ? await startMesh({
        config,
        store,
        keys,
        health,
        log,
        audit,
        port: server.port ?? config.admin.port,
        loadDataChannel: () => engines.load("datachannel"),
      })
    : undefined;
  meshJoin = mesh?.node.join;
  if (mesh) meshTransfers = (request) => mesh.node.transfers()?.httpHandler(request) ?? notRunning();
  // `kiana status` runs as another process: it reads the peer table from this snapshot.
  const stopPeerSnapshot = mesh ? writePeerSnapshots(config.dataDir, mesh.node) : () => {};
  // Read on first use: systeminformation is slow to load and rarely needed.
  let profile: ReturnType<typeof hw.readHardwareProfile> | undefined;

  const peers = () => mesh?.node.peers() ?? [];
  const status = async (): Promise<import("../admin/index.ts").AdminStatus> => {
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
      peers: peers(),
      refusals: mesh?.refusals.counts() ?? [],
      messages: { ...mesh?.node.direct()?.stats() },
      transfers: { ...mesh?.node.transfers()?.stats() },
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
    node: { name: config.node.name, role: config.node.role },
    peers,
    clientKey: (request) => server?.requestIP(request)?.address ?? "unknown",
    sendDirect: mesh
      ? (to, type, payload) => {
          const direct = mesh.node.direct();
          if (!direct)
            throw kianaError("MESH_PEER_UNKNOWN", "this device has not joined the fleet's broker yet");
          return direct.send(to, type, payload);
        }
      : undefined,
    sendFile: mesh
      ? (to, path) => {
          const transfers = mesh.node.transfers();
          if (!transfers)
            throw kianaError("MESH_PEER_UNKNOWN", "this device has not joined the fleet's broker yet");
          return transfers.send(to, path);
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
  keys: import("../identity/index.ts").NodeKeys;
  health: HealthRegistry;
  log: Logger;
  audit: import("../security/index.ts").AuditLog;
  port: number;
  loadDataChannel: () => Promise<unknown>;
}) {
  const { config, store, keys, health } = o;
  const log = capabilityLogger(o.log, "mesh");
  const [identity, meshNode, mdns, mqtt, hubBroker, replay, refusals, clock] = await Promise.all([
    import("../identity/index.ts"),
    import("../mesh/mesh-node.ts"),
    import("../mesh/adapters/mdns.ts"),
    import("../mesh/adapters/mqtt.ts"),
    import("../mesh/broker/hub-broker.ts"),
    import("../mesh/replay-guard.ts"),
    import("../mesh/refusals.ts"),
    import("../platform/clock.ts"),
  ]);
  let membership: import("../identity/index.ts").Membership | null = null;
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
    transfer: {
      receivedDir: join(config.dataDir, "received"),
      httpUrl: () => lanHttpUrl(config.admin.host, o.port, mdns.defaultInterfaces()),
      paths: config.mesh.transferPaths,
      rtc: { iceServers: [...config.mesh.iceServers] },
      loadDataChannel: o.loadDataChannel,
      maxReceiveBytes: config.mesh.maxReceiveMb * 1024 * 1024,
    },
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

const notRunning = () => new Response("file transfers are not running on this device\n", { status: 503 });

/** Where peers fetch our shared files: the admin listener, on a LAN address; none when it is loopback-only. */
export function lanHttpUrl(host: string, port: number, addresses: string[]): string | undefined {
  const wildcard = host === "0.0.0.0" || host === "::";
  const addr = wildcard ? (addresses.find((a) => !a.includes(":")) ?? addresses[0]) : host;
  if (!addr || addr === "localhost" || addr.startsWith("127.") || addr === "::1") return undefined;
  return `http://${addr.includes(":") ? `[${addr}]` : addr}:${port}`;
}

export const PEERS_FILE = "peers.json";

function writePeerSnapshots(dataDir: string, node: import("../mesh/mesh-node.ts").MeshNode): () => void {
  let last = "";
  const write = () => {
    const peers = node.peers();
    const text = JSON.stringify(peers);
    if (text === last) return;
    last = text;
    const file = join(dataDir, PEERS_FILE);
    try {
      writeFileAtomic(file, JSON.stringify({ at: Date.now(), peers }));
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
