// MessageTransport over MQTT (mqtt.js) to mosquitto: retained presence with a last will, QoS 1 by
// default, and reconnects driven here with capped exponential backoff and full jitter.
import type { IClientOptions, IPublishPacket, MqttClient } from "mqtt";
import { describeError, kianaError } from "../../errors.ts";
import { type Clock, systemClock } from "../../platform/clock.ts";
import type { Logger } from "../../platform/log.ts";
import type { MessageHandler, MessageTransport, PublishOptions } from "../ports.ts";
import { nodeTopic, topicMatches } from "../topics.ts";

export type TransportState = "connecting" | "online" | "offline";
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}
/** mqtt.js's `connect(options)`; the URL arrives already split into protocol, host and port. */
export type MqttConnect = (opts: IClientOptions) => MqttClient;
export type MqttLog = Pick<Logger, "debug" | "info" | "warn" | "error">;

export interface MqttTransportOptions {
  /** `mqtt://host:port`. */
  url: string;
  username: string;
  password: string;
  /** Defaults to `kiana-<fleet>-<node>`; mosquitto drops an older session with the same id. */
  clientId?: string;
  fleet: string;
  node: string;
  clock?: Clock;
  /** Uniform in [0, 1); seeded in tests. */
  random?: () => number;
  log?: MqttLog;
  backoff?: BackoffOptions;
  /** mqtt.js's `connect`; tests wrap it to reach the socket. Loaded lazily when absent. */
  mqttConnect?: MqttConnect;
  connectTimeoutMs?: number;
  keepaliveS?: number;
  /** Retained presence and last will; off for short-lived tools that should not show up as a node. */
  presence?: boolean;
}

export interface MqttTransport extends MessageTransport {
  state(): TransportState;
  /** Called on every state change; returns a function that stops the calls. */
  onState(fn: (state: TransportState) => void): () => void;
  /** Resolves on the first successful connection; rejects if closed before. */
  ready(): Promise<void>;
}

export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({ initialMs: 500, maxMs: 30_000 });

/**
 * Delay before reconnect attempt `attempt` (0-based): uniform in [0, min(max, initial * 2^attempt)).
 * Full jitter keeps a fleet that lost its hub from reconnecting in lockstep when it comes back.
 */
export function backoffDelay(attempt: number, b: BackoffOptions, random: () => number): number {
  if (!Number.isInteger(attempt) || attempt < 0)
    throw new RangeError(`attempt ${attempt} must be an integer >= 0`);
  if (!(b.initialMs > 0) || !(b.maxMs >= b.initialMs)) {
    throw new RangeError(`backoff needs 0 < initialMs <= maxMs, got ${b.initialMs} and ${b.maxMs}`);
  }
  const ceiling = Math.min(b.maxMs, b.initialMs * 2 ** Math.min(attempt, 60));
  const r = Math.min(Math.max(random(), 0), 1 - Number.EPSILON);
  return Math.floor(r * ceiling);
}

const silent: MqttLog = { debug() {}, info() {}, warn() {}, error() {} };

interface Sub {
  pattern: string;
  /** MQTT 5 subscription identifier: tells us which of several overlapping patterns a copy is for. */
  id: number;
  handlers: Set<MessageHandler>;
  /** subscribe() calls made while offline, settled by the next (re)subscription. */
  waiters: { resolve: () => void; reject: (err: unknown) => void }[];
}

/** WHATWG parsing: mqtt.js would use the deprecated url.parse on a string. */
function parseBrokerUrl(url: string): Pick<IClientOptions, "protocol" | "hostname" | "port"> {
  let u: URL | undefined;
  try {
    u = new URL(url);
  } catch {}
  if (!u || (u.protocol !== "mqtt:" && u.protocol !== "mqtts:") || !u.hostname) {
    throw kianaError("CONFIG_INVALID", `MQTT url ${JSON.stringify(url)} must look like mqtt://host:1883`, {
      url,
    });
  }
  const protocol = u.protocol === "mqtts:" ? "mqtts" : "mqtt";
  const port = u.port ? Number(u.port) : protocol === "mqtts" ? 8883 : 1883;
  return { protocol, hostname: u.hostname.replace(/^\[(.*)\]$/, "$1"), port };
}

async function loadConnect(): Promise<MqttConnect> {
  try {
    const mod = await import("mqtt");
    return mod.connect;
  } catch (err) {
    throw kianaError("MESH_MQTT_UNAVAILABLE", "the mqtt package could not be loaded", {}, err);
  }
}

export function createMqttTransport(opts: MqttTransportOptions): MqttTransport {
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? Math.random;
  const log = opts.log ?? silent;
  const backoff = opts.backoff ?? DEFAULT_BACKOFF;
  backoffDelay(0, backoff, () => 0); // fail fast on bad settings
  const broker = parseBrokerUrl(opts.url);
  const presenceTopic = nodeTopic(opts.fleet, opts.node, "presence");
  const announce = opts.presence ?? true;
  const presence = (state: "online" | "offline", reason?: string) =>
    Buffer.from(JSON.stringify({ node: opts.node, state, ts: clock.now(), ...(reason ? { reason } : {}) }));
  const will = () => ({
    topic: presenceTopic,
    payload: presence("offline", "lost"),
    qos: 1 as const,
    retain: true,
  });
  const closedError = () =>
    kianaError("MESH_TRANSPORT_CLOSED", "MQTT transport is closed", { node: opts.node });

  let state: TransportState = "connecting";
  const stateListeners = new Set<(s: TransportState) => void>();
  let closed = false;
  let attempt = 0;
  let cancelRetry: (() => void) | null = null;
  const subs = new Map<string, Sub>();
  const byId = new Map<number, Sub>();
  let nextSubId = 1;
  const ready = Promise.withResolvers<void>();
  ready.promise.catch(() => {}); // nobody may be waiting on it

  /** mqtt.js calls these from its stream handlers: a throw there would kill the connection or the process. */
  const guard =
    <A extends unknown[]>(what: string, fn: (...args: A) => void) =>
    (...args: A) => {
      try {
        fn(...args);
      } catch (err) {
        log.error({ error: describeError(err) }, `mqtt ${what} handler failed`);
      }
    };

  const setState = (next: TransportState) => {
    if (state === next) return;
    state = next;
    for (const fn of [...stateListeners]) guard("state listener", fn)(next);
  };

  const rawPublish = (client: MqttClient, topic: string, payload: Buffer, qos: 0 | 1, retain: boolean) =>
    new Promise<void>((resolve, reject) => {
      client.publish(topic, payload, { qos, retain }, (err) => {
        if (!err) resolve();
        // MQTT 5 brokers answer an ACL refusal in the PUBACK (0x87): a clear error, not a silent drop.
        else if ("code" in err && err.code === 0x87) {
          reject(kianaError("MESH_PUBLISH_DENIED", `broker refused publish to ${topic}`, { topic }, err));
        } else reject(err);
      });
    });

  const subscribeOnce = (client: MqttClient, sub: Sub) =>
    new Promise<void>((resolve, reject) => {
      const props = { subscriptionIdentifier: sub.id };
      client.subscribe(sub.pattern, { qos: 1, properties: props }, (err, granted) => {
        // A SUBACK reason code >= 0x80 is a refusal (EMQX and dynsec refuse; mosquitto's acl_file filters later).
        const code = Number((err as { code?: unknown } | undefined)?.code ?? granted?.[0]?.qos ?? 0);
        if (code & 0x80) {
          reject(kianaError("MESH_SUBSCRIBE_DENIED", `broker refused ${sub.pattern}`, { code }, err));
        } else if (err) reject(err);
        else resolve();
      });
    });

  const resubscribeAll = (client: MqttClient) => {
    for (const sub of subs.values()) {
      subscribeOnce(client, sub).then(
        () => {
          for (const w of sub.waiters.splice(0)) w.resolve();
        },
        (err) => {
          log.warn({ pattern: sub.pattern, error: describeError(err) }, "mqtt resubscribe failed");
          if (client.connected) for (const w of sub.waiters.splice(0)) w.reject(err);
        },
      );
    }
  };

  const dispatch = (topic: string, payload: Buffer, packet: IPublishPacket) => {
    const ids = packet.properties?.subscriptionIdentifier;
    const targets = ids === undefined ? [...subs.values()].filter((s) => topicMatches(s.pattern, topic)) : [];
    for (const id of Array.isArray(ids) ? ids : ids === undefined ? [] : [ids]) {
      const sub = byId.get(id);
      if (sub) targets.push(sub);
    }
    const bytes = new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
    for (const sub of targets) {
      for (const handler of [...sub.handlers]) guard(`message (${topic})`, handler)(topic, bytes);
    }
  };

  const scheduleRetry = (client: MqttClient) => {
    if (cancelRetry || closed) return;
    const delay = backoffDelay(attempt, backoff, random);
    attempt++;
    log.info({ attempt, delayMs: delay }, "mqtt reconnect scheduled");
    cancelRetry = clock.setTimeout(() => {
      cancelRetry = null;
      if (closed) return;
      setState("connecting");
      // The will carries a timestamp: refresh it for this connection.
      if (announce) client.options.will = will();
      try {
        client.connect();
      } catch (err) {
        log.warn({ error: describeError(err) }, "mqtt connect threw");
        setState("offline");
        scheduleRetry(client);
      }
    }, delay);
  };

  const clientPromise: Promise<MqttClient> = (async () => {
    const connect = opts.mqttConnect ?? (await loadConnect());
    const client = connect({
      ...broker,
      clientId: opts.clientId ?? `kiana-${opts.fleet}-${opts.node}`,
      username: opts.username,
      password: opts.password,
      protocolVersion: 5,
      clean: true,
      // We reconnect ourselves (backoff with jitter) and re-subscribe ourselves after each connect.
      reconnectPeriod: 0,
      resubscribe: false,
      manualConnect: true,
      queueQoSZero: false,
      connectTimeout: opts.connectTimeoutMs ?? 10_000,
      keepalive: opts.keepaliveS ?? 30,
      ...(announce ? { will: will() } : {}),
    });
    client.on(
      "connect",
      guard("connect", () => {
        attempt = 0;
        setState("online");
        log.info({ url: opts.url }, "mqtt connected");
        resubscribeAll(client);
        if (announce) {
          rawPublish(client, presenceTopic, presence("online"), 1, true).catch((err) =>
            log.warn({ error: describeError(err) }, "mqtt presence publish failed"),
          );
        }
        ready.resolve();
      }),
    );
    client.on(
      "close",
      guard("close", () => {
        if (closed) return;
        setState("offline");
        scheduleRetry(client);
      }),
    );
    client.on(
      "error",
      guard("error", (err: Error) => log.warn({ error: describeError(err) }, "mqtt connection error")),
    );
    client.on("message", guard("message", dispatch));
    if (!closed) client.connect();
    return client;
  })();
  clientPromise.catch((err) => {
    log.error({ error: describeError(err) }, "mqtt transport cannot start");
    setState("offline");
    ready.reject(err);
  });

  const withTimeout = <T>(p: Promise<T>, ms: number) =>
    new Promise<T | undefined>((resolve, reject) => {
      const cancel = clock.setTimeout(() => resolve(undefined), ms);
      p.then(
        (v) => {
          cancel();
          resolve(v);
        },
        (e) => {
          cancel();
          reject(e);
        },
      );
    });

  return {
    state: () => state,
    onState(fn) {
      stateListeners.add(fn);
      return () => stateListeners.delete(fn);
    },
    ready: () => ready.promise,

    async publish(topic: string, payload: Uint8Array, o: PublishOptions = {}) {
      if (closed) throw closedError();
      const client = await clientPromise;
      // A copy: mqtt.js keeps QoS 1 packets until acknowledged, the caller may reuse its buffer.
      await rawPublish(client, topic, Buffer.from(payload), o.qos ?? 1, o.retain ?? false);
    },

    async subscribe(pattern: string, handler: MessageHandler) {
      if (closed) throw closedError();
      const client = await clientPromise;
      let sub = subs.get(pattern);
      if (!sub) {
        sub = { pattern, id: nextSubId++, handlers: new Set(), waiters: [] };
        subs.set(pattern, sub);
        byId.set(sub.id, sub);
      }
      const entry = sub;
      entry.handlers.add(handler);
      const forget = () => {
        entry.handlers.delete(handler);
        if (entry.handlers.size === 0 && subs.get(pattern) === entry) {
          subs.delete(pattern);
          byId.delete(entry.id);
          return true;
        }
        return false;
      };
      try {
        // Subscribing again also makes the broker resend retained messages, for this new handler.
        // Offline, or the link dropped before SUBACK: the next connect's re-subscription settles it.
        const retry = (err: unknown) => (client.connected ? Promise.reject(err) : undefined);
        if (client.connected) await subscribeOnce(client, entry).catch(retry);
        if (!client.connected) {
          await new Promise<void>((resolve, reject) => entry.waiters.push({ resolve, reject }));
        }
      } catch (err) {
        forget();
        throw err;
      }
      return async () => {
        if (forget() && client.connected && !closed) {
          await new Promise<void>((resolve) => client.unsubscribe(pattern, () => resolve()));
        }
      };
    },

    async close() {
      if (closed) return;
      closed = true;
      cancelRetry?.();
      cancelRetry = null;
      ready.reject(closedError());
      for (const sub of subs.values()) for (const w of sub.waiters.splice(0)) w.reject(closedError());
      let client: MqttClient;
      try {
        client = await clientPromise;
      } catch {
        setState("offline");
        return;
      }
      if (client.connected) {
        // The will only fires on an unclean drop: say so ourselves on a clean shutdown.
        if (announce) {
          await withTimeout(
            rawPublish(client, presenceTopic, presence("offline", "closed"), 1, true),
            2000,
          ).catch((err) => log.warn({ error: describeError(err) }, "mqtt offline presence failed"));
        }
        const ended = await withTimeout(
          new Promise<boolean>((resolve) => client.end(false, {}, () => resolve(true))),
          2000,
        );
        if (!ended) client.end(true);
      } else if (client.stream) {
        // Also fails QoS 1 publishes still waiting for a connection, so their callers are not left hanging.
        client.end(true);
      }
      setState("offline");
    },
  };
}
