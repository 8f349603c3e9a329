// `kiana run`: the running node. /healthz is answered as soon as the config and the database are
// checked; the admin app, keys, probes and the mesh load after, through dynamic imports.

import { rmSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { healthzResponse } from "../admin/healthz.ts";
import type { KianaConfig } from "../config/index.ts";
import { describeError, kianaError } from "../errors.ts";
import { writeFileAtomic } from "../platform/atomic-file.ts";
import { capabilityLogger, type Logger } from "../platform/log.ts";
import { VERSION } from "../version.ts";
import { checkEnvironment, openCore } from "./core.ts";

type Handler = (request: Request) => Response | Promise<Response>;

type SocketData = import("../chain/sync/index.ts").WsSyncConnection;
type SocketHandler = import("bun").WebSocketHandler<SocketData>;

function listen(
  config: Readonly<KianaConfig>,
  routes: Record<
    string,
    (request: Request, server: import("bun").Server<SocketData>) => Response | Promise<Response> | undefined
  >,
  fetch: Handler,
  websocket: SocketHandler,
) {
  try {
    return Bun.serve({
      hostname: config.admin.host,
      port: config.admin.port,
      routes,
      fetch,
      websocket,
      // Model uploads stream to disk; every other body is refused past 1 MiB in the handler below.
      maxRequestBodySize: 64 * 2 ** 30,
    });
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
  let chainSync: import("./chain-node.ts").ChainNode["server"] | undefined;
  let models: Awaited<ReturnType<typeof import("./model-service.ts").startModels>> | undefined;
  // Requests other than /healthz that arrive while the admin app loads wait for it.
  const starting = Promise.withResolvers<Handler>();
  server = listen(
    config,
    {
      "/healthz": () => healthzResponse(health),
      // Each request carries a short-lived signed token from an enrolled peer: see src/mesh/transfer/auth.ts.
      "/kiana/v1/transfer/*": (request) => meshTransfers?.(request) ?? notRunning(),
      // The OpenAI-compatible API: its own bearer token (models.apiToken or <data>/api-token).
      "/v1/*": (request) =>
        models
          ? models.handle(request)
          : Response.json({ error: { message: "starting", type: "server_error" } }, { status: 503 }),
      // A WebSocket whose first frames authenticate the peer: see src/chain/sync/link-auth.ts.
      "/kiana/v1/chain/sync": (request, srv) =>
        chainSync
          ? chainSync.upgrade(request, srv)
          : new Response("the chain is starting\n", { status: 503 }),
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
      const declared = Number(request.headers.get("content-length") ?? 0);
      if (declared > 1024 * 1024 && new URL(request.url).pathname !== "/api/v1/models/upload")
        return Response.json(
          { error: { code: "ADMIN_BAD_REQUEST", message: "request body over 1 MiB" } },
          { status: 413 },
        );
      handler ??= await starting.promise;
      return handler(request);
    },
    {
      // Only chain sync upgrades, and only once chainSync is set; these forward to its handlers.
      open: (ws) => chainSync?.websocket.open?.(ws),
      message: (ws, message) => chainSync?.websocket.message?.(ws, message),
      close: (ws, code, reason) => chainSync?.websocket.close?.(ws, code, reason),
      maxPayloadLength: 2 * 1024 * 1024,
      idleTimeout: 120,
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
    ? await (await import("./mesh-start.ts")).startMesh({
        config,
        store,
        keys,
        health,
        log,
        audit,
        port: server.port ?? config.admin.port,
        // Advertised as TXT setup=0|1, so `fleet adopt` lists devices awaiting setup without asking each.
        setUp: accounts.isSetUp(),
        loadDataChannel: () => engines.load("datachannel"),
        // Bound late: the models start after the mesh, and the first beats simply carry none.
        models: () => models?.advertised() ?? [],
      })
    : undefined;
  meshJoin = mesh?.node.join;
  const chainNode = await (await import("./chain-service.ts")).startChain(config, {
    store,
    keys,
    audit,
    log,
    mesh: () => mesh?.node,
  });
  chainSync = chainNode.server;
  if (mesh) meshTransfers = (request) => mesh.node.transfers()?.httpHandler(request) ?? notRunning();
  // FedAvg (hub: coordinator, others: client) talks over the mesh once it has joined.
  const fedavg = config.fedavg.enabled
    ? await (await import("./fedavg-service.ts")).startFedavg(config, {
        store,
        keys,
        log,
        health,
        chain: chainNode,
        mesh: () => mesh?.node,
      })
    : undefined;
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
  // Voice by role (satellite, hub); a failure turns voice off with a health entry, not the node.
  const voice = await (await import("./voice-service.ts"))
    .startVoice(config, {
      health,
      log,
      loadOnnx: () => engines.load("onnxruntime"),
      // Remembered facts live on the knowledge chain, so every device of the fleet can recall them.
      chain: {
        log: chainNode.chainLog,
        queries: { list: (filter) => chainNode.view().list(filter ?? {}) },
        // The assistant prefers knowledge from authors the fleet's votes trust.
        trustOf: (author) => chainNode.authority.trust(author),
      },
      // Started above, so the satellite verifies and collects from its first detection.
      fedavg: fedavg && { verifier: fedavg.verifier, examples: fedavg.examples },
      publish: async (topic, payload) => {
        const transport = mesh?.node.transport();
        if (!transport) throw new Error("this device has not joined the fleet's broker");
        await transport.publish(topic, new TextEncoder().encode(payload));
      },
      // Bound late: the models start below; a request before then finds no API yet.
      llm: config.voice.hub.llmModel
        ? (await import("./voice-llm.ts")).createVoiceLlm({
            model: config.voice.hub.llmModel,
            handle: async (request) => {
              if (!models) throw new Error("the model API is not running yet");
              return models.handle(request);
            },
            token: async () => (await import("./model-service.ts")).apiToken(config),
          })
        : undefined,
    })
    .catch((err) => {
      health.set({
        code: "VOICE_FAILED",
        severity: "error",
        message: `Voice did not start: ${describeError(err)}`,
      });
      return null;
    });
  models = await (await import("./model-service.ts")).startModels(config, {
    store,
    engines,
    profile: () => (profile ??= hw.readHardwareProfile()),
    log: capabilityLogger(log, "models"),
    mesh: () => mesh?.node,
  });
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
    chain: chainNode.view(),
    models: models.adminRoutes,
    // Public keys in /api/v1/status and POST /api/v1/fleet/join: the same check as `kiana fleet join`.
    fleet: (await import("../identity/fleet-cli.ts")).deviceEnrolment({ dataDir: config.dataDir, keys }),
    fedavg: fedavg?.admin,
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
    {
      url,
      dataDir: config.dataDir,
      role: config.node.role,
      fingerprint: keys.fingerprint,
      openaiApi: `${url}v1 (bearer token: ${models.tokenFile ?? "models.apiToken"})`,
    },
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
    chainNode.schedule.stop();
    fedavg?.stop();
    void models?.dispose();
    void voice?.stop();
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

const notRunning = () => new Response("file transfers are not running on this device\n", { status: 503 });

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
