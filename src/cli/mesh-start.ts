// The mesh as `kiana run` starts it: mDNS always; once enrolled, the broker (on a hub), the
// roster, direct messages and file transfers. Loaded lazily, after /healthz answers.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { KianaConfig } from "../config/index.ts";
import { describeError } from "../errors.ts";
import type { HealthRegistry } from "../platform/health.ts";
import { capabilityLogger, type Logger } from "../platform/log.ts";
import type { Store } from "../store/index.ts";
import { VERSION } from "../version.ts";

/** The mesh: mDNS always; once enrolled, the broker (a hub runs it) and the fleet's roster. */
export async function startMesh(o: {
  config: Readonly<KianaConfig>;
  store: Store;
  keys: import("../identity/index.ts").NodeKeys;
  health: HealthRegistry;
  log: Logger;
  audit: import("../security/index.ts").AuditLog;
  port: number;
  /** Whether the admin password is set, for the TXT record; read once, like the membership. */
  setUp?: boolean;
  loadDataChannel: () => Promise<unknown>;
  /** What heartbeats advertise on the OpenAI-compatible API (model-service.ts), read at each beat. */
  models?: () => import("../mesh/peers.ts").PeerModel[];
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
    node: { name, role, fleet: config.node.fleet, version: VERSION, adminPort: o.port, setUp: o.setUp },
    keys,
    membership,
    hubUrl: config.mesh.hubUrl,
    revoked: config.mesh.revoked,
    heartbeatMs: config.mesh.heartbeatSeconds * 1000,
    store,
    random: (n) => new Uint8Array(randomBytes(n)),
    addresses: mdns.defaultInterfaces,
    models: o.models,
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

/** Where peers fetch our shared files: the admin listener, on a LAN address; none when it is loopback-only. */
export function lanHttpUrl(host: string, port: number, addresses: string[]): string | undefined {
  const wildcard = host === "0.0.0.0" || host === "::";
  const addr = wildcard ? (addresses.find((a) => !a.includes(":")) ?? addresses[0]) : host;
  if (!addr || addr === "localhost" || addr.startsWith("127.") || addr === "::1") return undefined;
  return `http://${addr.includes(":") ? `[${addr}]` : addr}:${port}`;
}
