// Heartbeats: every node announces itself on its own topic each interval (signed, QoS 0), and
// listens to the whole fleet's heartbeats to keep the peer table current.
import { describeError } from "../errors.ts";
import type { Clock } from "../platform/clock.ts";
import type { Logger } from "../platform/log.ts";
import type { OpenResult } from "./envelope.ts";
import type { PeerModel, PeerTable } from "./peers.ts";
import type { MessageTransport } from "./ports.ts";
import type { RefusalReason } from "./refusals.ts";
import { fleetPattern, nodeTopic } from "./topics.ts";

export const HEARTBEAT_TYPE = "heartbeat";
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 10_000;

export interface HeartbeatBody {
  version: string;
  /** Port of the node's admin HTTP server; 0 when it has none. */
  adminPort: number;
  addresses: string[];
  /** Sender's wall clock, ms since the epoch. */
  ts: number;
  /** Models the sender serves to peers; absent from nodes that serve none (or predate the field). */
  models?: PeerModel[];
}

const MAX_ADDRESSES = 16;
const MAX_TEXT = 64;
export const MAX_ADVERTISED_MODELS = 32;

/** Pure: what of a node's model list fits in a heartbeat; loaded models win when it must be cut. */
export function advertisable(models: readonly PeerModel[]): PeerModel[] {
  const fits = models.filter((m) => m.name !== "" && m.name.length <= MAX_TEXT);
  const kept = [...fits.filter((m) => m.loaded), ...fits.filter((m) => !m.loaded)];
  return kept
    .slice(0, MAX_ADVERTISED_MODELS)
    .map(({ name, loaded, tokensPerSecond: tps }) =>
      tps !== undefined && Number.isFinite(tps) && tps >= 0
        ? { name, loaded, tokensPerSecond: tps }
        : { name, loaded },
    );
}

export function encodeHeartbeat(body: HeartbeatBody): Uint8Array {
  const models = body.models && advertisable(body.models);
  return new TextEncoder().encode(JSON.stringify({ ...body, models }));
}

function parseModels(v: unknown): PeerModel[] | undefined {
  if (!Array.isArray(v) || v.length > MAX_ADVERTISED_MODELS) return undefined;
  const out: PeerModel[] = [];
  for (const m of v) {
    if (typeof m !== "object" || m === null) return undefined;
    const { name, loaded, tokensPerSecond: tps } = m as Record<string, unknown>;
    if (typeof name !== "string" || name === "" || name.length > MAX_TEXT || typeof loaded !== "boolean")
      return undefined;
    if (tps === undefined) out.push({ name, loaded });
    else if (typeof tps === "number" && Number.isFinite(tps) && tps >= 0)
      out.push({ name, loaded, tokensPerSecond: tps });
    else return undefined;
  }
  return out;
}

/** Pure: the body if it is well formed, else undefined; fields beyond the known ones are ignored. */
export function parseHeartbeat(bytes: Uint8Array): HeartbeatBody | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return undefined;
  }
  if (typeof raw !== "object" || raw === null) return undefined;
  const { version, adminPort, addresses, ts, models } = raw as Record<string, unknown>;
  const isText = (v: unknown): v is string => typeof v === "string" && v.length <= MAX_TEXT;
  if (!isText(version)) return undefined;
  if (!Number.isInteger(adminPort) || (adminPort as number) < 0 || (adminPort as number) > 65_535)
    return undefined;
  if (!Array.isArray(addresses) || addresses.length > MAX_ADDRESSES || !addresses.every(isText))
    return undefined;
  if (!Number.isSafeInteger(ts) || (ts as number) < 0) return undefined;
  const body: HeartbeatBody = { version, adminPort: adminPort as number, addresses, ts: ts as number };
  if (models === undefined) return body;
  const served = parseModels(models);
  return served && { ...body, models: served };
}

export interface HeartbeatOptions {
  transport: MessageTransport;
  fleet: string;
  self: { node: string; fingerprint: string };
  /** Signs an envelope (the caller owns the sequence counter). */
  seal: (type: string, body: Uint8Array) => Uint8Array;
  /** Verifies an envelope: enrolment, signature, clock, replay. */
  open: (bytes: Uint8Array) => OpenResult;
  peers: Pick<PeerTable, "heard">;
  clock: Clock;
  /** What this node announces, read at each beat. */
  info: () => Omit<HeartbeatBody, "ts">;
  onRefused: (from: string | undefined, reason: RefusalReason, detail: string) => void;
  log: Logger;
  intervalMs?: number;
}

export interface Heartbeat {
  /** Subscribes to the fleet's heartbeats, beats once, then every interval. */
  start(): Promise<void>;
  beat(): Promise<void>;
  stop(): Promise<void>;
}

export function createHeartbeat(opts: HeartbeatOptions): Heartbeat {
  const { transport, fleet, self, clock, log } = opts;
  const intervalMs = opts.intervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS;
  const ownTopic = nodeTopic(fleet, self.node, HEARTBEAT_TYPE);
  let cancelInterval: (() => void) | undefined;
  let unsubscribe: (() => Promise<void>) | undefined;
  let stopped = false;

  function receive(topic: string, bytes: Uint8Array) {
    // Our own beat comes back from the broker; not worth a signature check.
    if (stopped || topic === ownTopic) return;
    const r = opts.open(bytes);
    if (!r.ok) return opts.onRefused(r.from, r.reason, r.detail);
    const { envelope, sender } = r;
    if (envelope.from === self.fingerprint) return;
    if (envelope.type !== HEARTBEAT_TYPE)
      return opts.onRefused(envelope.from, "malformed", `a "${envelope.type}" envelope on a heartbeat topic`);
    // The topic names the node; a device beating on another's topic would pose as it in listings.
    const named = topic.split("/")[3];
    if (named !== sender.name)
      return opts.onRefused(
        envelope.from,
        "malformed",
        `${sender.name}'s heartbeat on the topic of ${named}`,
      );
    const body = parseHeartbeat(envelope.body);
    if (!body) return opts.onRefused(envelope.from, "malformed", "the heartbeat body is not valid");
    // models is passed even when absent, so a peer that stops serving is not kept on an old list.
    const { version, adminPort, addresses, models } = body;
    opts.peers.heard(sender, { version, adminPort, addresses, models });
  }

  const heartbeat: Heartbeat = {
    async start() {
      if (unsubscribe || stopped) return;
      unsubscribe = await transport.subscribe(fleetPattern(fleet, "+", HEARTBEAT_TYPE), (topic, bytes) => {
        try {
          receive(topic, bytes);
        } catch (err) {
          // Never into the transport: one bad heartbeat must not end the subscription.
          log.error({ error: describeError(err) }, "heartbeat handling failed");
        }
      });
      cancelInterval = clock.setInterval(() => void heartbeat.beat(), intervalMs);
      await heartbeat.beat();
    },

    async beat() {
      if (stopped) return;
      try {
        const body = encodeHeartbeat({ ...opts.info(), ts: clock.now() });
        await transport.publish(ownTopic, opts.seal(HEARTBEAT_TYPE, body), { qos: 0 });
      } catch (err) {
        // Offline or closing: the next beat tries again, and peers see us degrade meanwhile.
        log.debug({ error: describeError(err) }, "heartbeat not sent");
      }
    },

    async stop() {
      stopped = true;
      cancelInterval?.();
      await unsubscribe?.();
      unsubscribe = undefined;
    },
  };
  return heartbeat;
}
