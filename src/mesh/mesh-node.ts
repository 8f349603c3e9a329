// One device's place in the mesh: advertises itself over mDNS, and once enrolled joins the fleet's
// broker (a hub runs it), publishes its certificate, follows the roster and seals/opens envelopes.
// Adapters (mDNS, MQTT, the hub's broker) come in from the composition root.
import { type Certificate, certificateFingerprint } from "../identity/enrolment.ts";
import type { Membership } from "../identity/fleet-membership.ts";
import type { NodeKeys } from "../identity/node-keys.ts";
import type { Clock } from "../platform/clock.ts";
import type { HealthRegistry } from "../platform/health.ts";
import type { Logger } from "../platform/log.ts";
import type { Store } from "../store/index.ts";
import type { MdnsDiscovery, MdnsOptions } from "./adapters/mdns.ts";
import type { MqttTransport, MqttTransportOptions } from "./adapters/mqtt.ts";
import type { HubBroker } from "./broker/hub-broker.ts";
import { createDirectMessaging, type DirectMessaging } from "./direct-queue.ts";
import { type OpenResult, openEnvelope, sealEnvelope } from "./envelope.ts";
import { createHeartbeat, type Heartbeat } from "./heartbeat.ts";
import { type BrokerLogin, handleJoin, joinHub } from "./join.ts";
import { kianaInstanceName, kianaTxt } from "./mdns-records.ts";
import { createPeerTable, type PeerModel, peerStateOf } from "./peers.ts";
import type { RefusalReason } from "./refusals.ts";
import { createMemoryReplayGuard, type ReplayGuard, type SequenceCounter } from "./replay-guard.ts";
import { createRoster, type Roster } from "./roster.ts";
import {
  createTransferService,
  type ReceivedFile,
  type TransferService,
  type TransferServiceOptions,
} from "./transfer/index.ts";

/** What the composition root decides about file transfers; the rest comes from the joined node. */
export type MeshTransferOptions = Omit<
  TransferServiceOptions,
  "transport" | "fleet" | "node" | "keys" | "nextSeq" | "clock" | "log" | "open" | "knows"
>;

export interface MeshNodeOptions {
  node: {
    name: string;
    role: "hub" | "node" | "satellite";
    fleet: string;
    version: string;
    adminPort: number;
    /** Whether the admin password is set, advertised as TXT `setup`; absent: not advertised. */
    setUp?: boolean;
  };
  keys: NodeKeys;
  membership: Membership | null;
  hubUrl: string;
  revoked: readonly string[];
  heartbeatMs: number;
  store: Store;
  random: (n: number) => Uint8Array;
  /** This node's LAN addresses, announced in heartbeats. */
  addresses: () => string[];
  /** Models this node serves to peers, announced in heartbeats (read at each beat); absent: none. */
  models?: () => PeerModel[];
  clock: Clock;
  log: Logger;
  health: HealthRegistry;
  sequence: SequenceCounter;
  replay: ReplayGuard;
  onRefused(from: string | undefined, reason: RefusalReason, detail: string): void;
  /** File transfers, started once joined; absent: none. */
  transfer?: MeshTransferOptions;
  adapters: {
    mdns(opts: MdnsOptions): MdnsDiscovery;
    mqtt(opts: MqttTransportOptions): MqttTransport;
    /** Only on a hub. */
    hubBroker?: HubBroker;
    brokerHost?: string;
  };
}

export interface MeshNode {
  /** This device's signing-key fingerprint: what peers address tokens to. */
  readonly fingerprint: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  roster(): Certificate[];
  transport(): MqttTransport | undefined;
  /** End-to-end encrypted, acknowledged messages to one peer; undefined until joined. */
  direct(): DirectMessaging | undefined;
  /** Bulk file transfers to and from peers; undefined until joined. */
  transfers(): TransferService | undefined;
  /** Every file a peer sent us, once it lies complete in the received folder. Returns an unsubscribe. */
  onFileReceived(handler: (file: ReceivedFile) => void): () => void;
  seal(type: string, body: Uint8Array): Uint8Array;
  open(bytes: Uint8Array): OpenResult;
  /**
   * An `open` with its own replay guard, for a channel whose envelopes may arrive out of order
   * with the rest (as transfer does); undefined before this device is enrolled.
   */
  channelOpener(replay?: ReplayGuard): ((bytes: Uint8Array) => OpenResult) | undefined;
  /** The hub's join endpoint (POST body → answer); undefined on other roles. */
  join?: (body: Uint8Array) => { status: number; json: unknown };
  /** Enrolled peers (roster) and devices only seen over mDNS, never ourselves. */
  peers(): MeshPeer[];
}

export interface MeshPeer {
  name: string;
  role: string;
  fingerprint: string;
  /** healthy/degraded/failed (heartbeats), online/offline (broker presence), enrolled, or discovered (mDNS only). */
  state: string;
  addresses: string[];
  /** The peer's admin/HTTP port, from its heartbeat or mDNS record; the LAN paths (transfers, chain sync) use it. */
  adminPort?: number;
  /** What the peer serves on its OpenAI-compatible API, from its heartbeat. */
  models?: PeerModel[];
}

const JOIN_RETRY_MS = { initial: 1000, max: 60_000 };

export function createMeshNode(opts: MeshNodeOptions): MeshNode {
  const { node, keys, membership, clock, log, health } = opts;
  const revoked = new Set(opts.revoked);
  const mdns = opts.adapters.mdns({
    name: kianaInstanceName(node.name, keys.fingerprint, membership !== null),
    port: node.adminPort,
    txt: kianaTxt({
      fingerprint: keys.fingerprint,
      role: node.role,
      version: node.version,
      adminPort: node.adminPort,
      fleet: membership?.fleet.fleetId ?? node.fleet,
      setUp: node.setUp,
      enrolled: membership !== null,
    }),
    clock,
    log,
  });
  const roster: Roster | undefined = membership
    ? createRoster({
        fleet: membership.fleet,
        revoked,
        now: clock.now,
        onRefused: opts.onRefused,
        onChange: () => log.info({ roster: roster?.list().map((c) => c.name) ?? [] }, "roster changed"),
      })
    : undefined;
  let transport: MqttTransport | undefined;
  let detach: (() => Promise<void>) | undefined;
  let unfollowPresence: (() => Promise<void>) | undefined;
  /** Retained presence per node name (the broker's last will says "offline" for a lost device). */
  const presence = new Map<string, { state: "online" | "offline"; at: number }>();
  const peerTable = createPeerTable({ clock, intervalMs: opts.heartbeatMs });
  let heartbeat: Heartbeat | undefined;
  let direct: DirectMessaging | undefined;
  let transfers: TransferService | undefined;
  // Capabilities that receive their own files (FedAvg models and updates) subscribe here.
  const fileHandlers = new Set<(file: ReceivedFile) => void>();
  peerTable.onChange((peer, previous) => {
    log.info({ peer: peer.name, state: peer.state, previous }, "peer health");
    if (peer.state === "healthy") direct?.retryNow(peer.fingerprint);
  });
  let stopped = false;
  let cancelRetry: (() => void) | undefined;
  let brokerPort = 0;

  const seal = (type: string, body: Uint8Array) =>
    sealEnvelope({ keys, seq: opts.sequence.next(), now: clock.now(), type, body });
  const open = (bytes: Uint8Array): OpenResult => {
    if (!membership || !roster)
      return { ok: false, reason: "unknown-sender", detail: "this device is not enrolled" };
    return openEnvelope(bytes, {
      roster: roster.get,
      fleetPublicKey: membership.fleet.publicKey,
      fleetId: membership.fleet.fleetId,
      revoked,
      now: clock.now(),
      replay: opts.replay,
      certCache: roster.cache,
    });
  };

  async function connect(login: Omit<BrokerLogin, "hub"> & { hub?: Certificate }): Promise<void> {
    if (!membership || !roster) return;
    const fleet = membership.fleet.fleetId;
    const url = `mqtt://${login.host.includes(":") ? `[${login.host}]` : login.host}:${login.port}`;
    transport = opts.adapters.mqtt({
      url,
      username: login.username,
      password: login.password,
      fleet,
      node: node.name,
      clock,
      log,
    });
    transport.onState((state) => {
      log.info({ state, url }, "broker connection");
      if (state === "online") health.clear("MESH_BROKER_OFFLINE");
      else if (state === "offline") {
        health.set({
          code: "MESH_BROKER_OFFLINE",
          severity: "warning",
          message: `Lost the fleet's broker at ${url}; reconnecting with backoff.`,
        });
      }
    });
    if (login.hub) roster.add(login.hub);
    await transport.ready();
    detach = await roster.attach(transport, membership.certificate);
    unfollowPresence = await transport.subscribe(`kiana/v1/${fleet}/+/presence`, (topic, payload) => {
      const name = topic.split("/")[3] ?? "";
      let state: unknown;
      try {
        state = (JSON.parse(new TextDecoder().decode(payload)) as { state?: unknown }).state;
      } catch {
        state = undefined;
      }
      if ((state !== "online" && state !== "offline") || presence.get(name)?.state === state) return;
      presence.set(name, { state, at: clock.now() });
      log.info({ node: name, state }, "presence");
    });
    const self = { node: node.name, fingerprint: keys.fingerprint };
    heartbeat = createHeartbeat({
      transport,
      fleet,
      self,
      seal,
      open,
      peers: peerTable,
      clock,
      info: () => ({
        version: node.version,
        adminPort: node.adminPort,
        addresses: opts.addresses(),
        models: opts.models?.(),
      }),
      onRefused: opts.onRefused,
      log,
      intervalMs: opts.heartbeatMs,
    });
    direct = createDirectMessaging({
      store: opts.store,
      transport,
      fleet,
      self: { ...self, keys },
      seal,
      open,
      lookupPeer: (n) => roster.byName(n) ?? roster.get(n),
      clock,
      random: opts.random,
      log,
      onRefused: opts.onRefused,
    });
    // Content stays private: the log records who, what kind and a hash, never the text.
    direct.onMessage((from, type, payload, id) => {
      const sha256 = new Bun.CryptoHasher("sha256").update(payload).digest("hex");
      log.info({ from: from.name, type, id, bytes: payload.length, sha256 }, "direct message received");
    });
    await heartbeat.start();
    await direct.start();
    if (opts.transfer) {
      const service = createTransferService({
        ...opts.transfer,
        transport,
        fleet,
        node: node.name,
        keys,
        nextSeq: () => opts.sequence.next(),
        clock,
        log,
        open: {
          roster: roster.get,
          fleetPublicKey: membership.fleet.publicKey,
          fleetId: fleet,
          revoked,
          certCache: roster.cache,
        },
        knows: (n) => roster.byName(n) !== undefined,
        onReceived(file) {
          opts.transfer?.onReceived?.(file);
          for (const handler of fileHandlers) {
            try {
              handler(file);
            } catch (err) {
              log.warn({ err: (err as Error).message, file: file.name }, "a received-file handler failed");
            }
          }
        },
      });
      // Transfers failing to start leave the rest of the mesh running.
      await service.start().then(
        () => {
          transfers = service;
        },
        (err: unknown) => {
          health.set({
            code: "MESH_TRANSFERS_FAILED",
            severity: "warning",
            message: `File transfers did not start: ${(err as Error).message}`,
          });
          void service.stop();
        },
      );
    }
    log.info({ url, peers: roster.list().length }, "joined the fleet's broker");
  }

  /** A device finds the hub (config or mDNS), asks to be admitted, then connects; retried with backoff. */
  function joinWithRetry(attempt = 0): void {
    if (stopped || !membership) return;
    const hubUrl = opts.hubUrl || hubFromMdns();
    const retry = (why: string) => {
      const delay = Math.min(JOIN_RETRY_MS.max, JOIN_RETRY_MS.initial * 2 ** attempt);
      health.set({
        code: "MESH_NO_BROKER",
        severity: "warning",
        message: `${why}; discovery only until then (retry in ${Math.round(delay / 1000)} s).`,
      });
      log.warn({ attempt, retryMs: delay }, why);
      cancelRetry = clock.setTimeout(() => joinWithRetry(attempt + 1), delay);
    };
    if (!hubUrl) {
      retry("No hub found yet (mDNS _kiana._tcp with role hub, or mesh.hubUrl)");
      return;
    }
    joinHub({
      hubUrl,
      keys,
      certificate: membership.certificate,
      fleet: membership.fleet,
      seq: opts.sequence.next(),
      now: clock.now,
    })
      .then(async (login) => {
        health.clear("MESH_NO_BROKER");
        await connect(login);
      })
      .catch((err: unknown) => retry(`Could not join the hub at ${hubUrl}: ${(err as Error).message}`));
  }

  function hubFromMdns(): string | undefined {
    const fleet = membership?.fleet.fleetId;
    const hub = mdns
      .services("kiana")
      .find((s) => s.txt.role === "hub" && s.txt.fleet === fleet && s.addresses.length > 0);
    if (!hub) return undefined;
    const addr = hub.addresses.find((a) => !a.includes(":")) ?? hub.addresses[0] ?? "";
    return `http://${addr.includes(":") ? `[${addr}]` : addr}:${hub.txt.admin ?? hub.port}/`;
  }

  const mesh: MeshNode = {
    fingerprint: keys.fingerprint,
    async start() {
      await mdns.start().catch((err: unknown) => {
        health.set({
          code: "MESH_MDNS_FAILED",
          severity: "warning",
          message: `mDNS is off: ${(err as Error).message}`,
        });
      });
      if (!membership) {
        health.set({
          code: "MESH_NOT_ENROLLED",
          severity: "warning",
          message: "This device is not enrolled in a fleet: discovery only.",
          hint: "Give the line from `kiana status` to `kiana fleet enroll`, then run `kiana fleet join` here.",
        });
        return;
      }
      const hubBroker = opts.adapters.hubBroker;
      if (node.role === "hub" && hubBroker) {
        try {
          brokerPort = (await hubBroker.start()).port;
        } catch (err) {
          health.set({
            code: "MESH_BROKER_FAILED",
            severity: "error",
            message: `The hub's broker did not start: ${(err as Error).message}`,
          });
          return;
        }
        await connect({
          host: opts.adapters.brokerHost ?? "127.0.0.1",
          port: brokerPort,
          ...hubBroker.hubLogin,
        });
        return;
      }
      joinWithRetry();
    },
    async stop() {
      stopped = true;
      cancelRetry?.();
      await heartbeat?.stop().catch(() => {});
      await direct?.stop().catch(() => {});
      await transfers?.stop().catch(() => {});
      peerTable.stop();
      await unfollowPresence?.().catch(() => {});
      await detach?.().catch(() => {});
      await transport?.close().catch(() => {});
      await opts.adapters.hubBroker?.stop().catch(() => {});
      await mdns.stop().catch(() => {});
    },
    roster: () => roster?.list() ?? [],
    transport: () => transport,
    direct: () => direct,
    transfers: () => transfers,
    onFileReceived(handler) {
      fileHandlers.add(handler);
      return () => fileHandlers.delete(handler);
    },
    seal,
    open,
    channelOpener(guard = createMemoryReplayGuard()) {
      if (!membership || !roster) return undefined;
      const r = roster;
      return (bytes) =>
        openEnvelope(bytes, {
          roster: r.get,
          fleetPublicKey: membership.fleet.publicKey,
          fleetId: membership.fleet.fleetId,
          revoked,
          now: clock.now(),
          replay: guard,
          certCache: r.cache,
        });
    },
    peers() {
      const byFp = new Map<string, MeshPeer>();
      for (const c of roster?.list() ?? []) {
        const fp = certificateFingerprint(c);
        const heard = peerTable.get(fp);
        byFp.set(fp, {
          name: c.name,
          role: c.role,
          fingerprint: fp,
          state: peerStateOf(heard, presence.get(c.name)),
          addresses: heard?.addresses ?? [],
          adminPort: heard?.adminPort,
          models: heard?.models,
        });
      }
      for (const s of mdns.services("kiana")) {
        const fp = s.txt.fp ?? "";
        const known = byFp.get(fp);
        if (known) {
          if (known.addresses.length === 0) known.addresses = s.addresses;
          known.adminPort ??= s.port;
        } else
          byFp.set(fp, {
            name: s.instance,
            role: s.txt.role ?? "",
            fingerprint: fp,
            state: "discovered",
            addresses: s.addresses,
            adminPort: s.port,
          });
      }
      byFp.delete(keys.fingerprint);
      return [...byFp.values()].sort((a, b) => a.name.localeCompare(b.name));
    },
  };
  if (node.role === "hub" && membership && opts.adapters.hubBroker) {
    const hubBroker = opts.adapters.hubBroker;
    mesh.join = (body) =>
      handleJoin(body, {
        fleet: membership.fleet,
        revoked,
        replay: opts.replay,
        now: clock.now,
        hubCertificate: membership.certificate,
        brokerPort,
        admit: (cert) => hubBroker.admit(cert),
        onRefused: (from, reason, detail) => opts.onRefused(from, reason as RefusalReason, detail),
      });
  }
  return mesh;
}
