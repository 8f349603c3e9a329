// The chain as `kiana run` runs it: sync served on the HTTP listener and through the broker, pulls
// from each reachable peer on a timer (its LAN address first, the broker when that fails), and
// checkpoint ticks for validators.
import type { KianaConfig } from "../config/index.ts";
import { describeError, isKianaError, kianaError } from "../errors.ts";
import type { MeshNode } from "../mesh/mesh-node.ts";
import { capabilityLogger, type Logger } from "../platform/log.ts";
import type { Store } from "../store/index.ts";
import { openChainNode, safeMembership } from "./chain-node.ts";

export async function startChain(
  config: Readonly<KianaConfig>,
  o: {
    store: Store;
    keys: import("../identity/index.ts").NodeKeys;
    audit: import("../security/index.ts").AuditLog;
    log: Logger;
    mesh: () => MeshNode | undefined;
  },
) {
  const [sync, { systemClock }] = await Promise.all([
    import("../chain/sync/index.ts"),
    import("../platform/clock.ts"),
  ]);
  const membership = safeMembership(config.dataDir);
  const node = await openChainNode({
    store: o.store,
    keys: o.keys,
    membership,
    revoked: config.mesh.revoked,
    clock: systemClock,
    audit: o.audit,
    genesisValidators: config.chain.validators,
  });
  const log = capabilityLogger(o.log, "chain");

  // The broker path starts once the mesh has joined the broker; until then only the LAN path runs.
  let mqtt: ReturnType<typeof sync.createMqttSyncLinks> | undefined;
  const ensureMqtt = async () => {
    const mesh = o.mesh();
    const transport = mesh?.transport();
    const open = mqtt ? undefined : mesh?.channelOpener();
    if (mqtt || !mesh || !transport || !open || !membership) return;
    const links = sync.createMqttSyncLinks({
      transport,
      fleet: membership.fleet.fleetId,
      me: membership.certificate.name,
      seal: (type, body) => mesh.seal(type, body),
      open: (bytes) => {
        const r = open(bytes);
        return r.ok
          ? { ok: true, envelope: r.envelope, sender: r.sender }
          : { ok: false, reason: r.reason, detail: r.detail };
      },
      // Sessions over the broker cannot be hung up by the peer, so an idle one ends soon.
      serve: (port) => node.serve(port, sync.MQTT_BATCH_BYTES, 10_000),
      onRefused: (reason) => log.debug({ reason }, "chain-sync message refused"),
    });
    await links.start();
    mqtt = links;
  };

  // Serving through the broker starts as soon as the mesh joins, not at this device's first pull:
  // a peer's hello published before we subscribe is lost.
  let mqttProblem = "";
  const tryMqtt = () =>
    ensureMqtt().catch((err) => {
      const problem = describeError(err);
      if (problem !== mqttProblem) log.warn({ err: problem }, "chain sync through the broker is off");
      mqttProblem = problem;
    });
  const stopMqttWatch = systemClock.setInterval(() => {
    if (mqtt) stopMqttWatch();
    else void tryMqtt();
  }, 1000);

  const pull = async (t: import("../chain/sync/index.ts").SyncTarget) => {
    await tryMqtt();
    if (t.url) {
      try {
        return await node.pull(t.url, { server: t.fingerprint });
      } catch (err) {
        if (!mqtt || !isKianaError(err, "CHAIN_SYNC_UNAVAILABLE")) throw err;
      }
    }
    if (!mqtt)
      throw kianaError(
        "CHAIN_SYNC_UNAVAILABLE",
        `${t.name} has no reachable address and the broker is not joined`,
      );
    const port = mqtt.connect(t.name, t.fingerprint);
    try {
      // Frames follow each other closely; a silent peer (not subscribed yet, gone) is given up soon.
      return await node.pullOver(port, t.fingerprint, { timeoutMs: 5000 });
    } finally {
      port.close();
    }
  };

  let lastProblem = "";
  // Checkpoints: propose when in turn and the heads moved, endorse what this device can check.
  const stopTicks =
    config.chain.checkpointSeconds > 0
      ? systemClock.setInterval(() => {
          try {
            const r = node.authority.tick();
            if (r.proposed || r.endorsed) log.info(r, "checkpoint signed");
            lastProblem = "";
          } catch (err) {
            const problem = describeError(err);
            if (problem !== lastProblem) log.warn({ err: problem }, "checkpoint tick failed");
            lastProblem = problem;
          }
        }, config.chain.checkpointSeconds * 1000)
      : () => {};
  const schedule = sync.startSyncSchedule({
    clock: systemClock,
    everyMs: config.chain.syncSeconds * 1000,
    targets: () => sync.syncTargets(o.mesh()?.peers() ?? []),
    pull,
    log,
  });
  const stop = () => {
    stopTicks();
    stopMqttWatch();
    schedule.stop();
    void mqtt?.stop();
  };
  return { ...node, schedule: { runNow: schedule.runNow, stop } };
}
