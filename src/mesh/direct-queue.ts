// Direct messages between two devices: end-to-end encrypted, acknowledged, retried from a SQLite
// outbox while the peer is away, and delivered once on the receiver (deduplicated by message id).
import { describeError, kianaError } from "../errors.ts";
import { type Certificate, certificateFingerprint } from "../identity/enrolment.ts";
import type { NodeKeys } from "../identity/node-keys.ts";
import type { Clock } from "../platform/clock.ts";
import type { Logger } from "../platform/log.ts";
import type { Store } from "../store/index.ts";
import { DIRECT_TYPE, openDirect, sealDirect } from "./e2e.ts";
import { DEFAULT_MAX_BODY_BYTES, type OpenResult } from "./envelope.ts";
import type { MessageTransport } from "./ports.ts";
import type { RefusalReason } from "./refusals.ts";
import { DEFAULT_MAX_SKEW_MS } from "./replay-guard.ts";
import { fleetPattern, nodeTopic } from "./topics.ts";

export const DIRECT_ACK_TYPE = "direct-ack";

export interface RetryPolicy {
  /** Delay after the first attempt; doubles per attempt up to maxMs. */
  initialMs: number;
  maxMs: number;
  /** A message still unacknowledged this long after send() is dropped. */
  maxAgeMs: number;
}
export const DEFAULT_DIRECT_RETRY: RetryPolicy = {
  initialMs: 2_000,
  maxMs: 5 * 60_000,
  maxAgeMs: 86_400_000,
};

export type DirectHandler = (
  from: Certificate,
  type: string,
  payload: Uint8Array,
  id: string,
) => void | Promise<void>;
export type RefusalCallback = (from: string | undefined, reason: RefusalReason, detail: string) => void;

export interface DirectMessagingOptions {
  store: Store;
  transport: MessageTransport;
  fleet: string;
  self: { node: string; fingerprint: string; keys: Pick<NodeKeys, "agree" | "agreementPublicKey"> };
  /** Signs an envelope (the caller owns the sequence counter). */
  seal: (type: string, body: Uint8Array) => Uint8Array;
  /** Verifies an envelope: enrolment, signature, clock, replay. */
  open: (bytes: Uint8Array) => OpenResult;
  lookupPeer: (nodeOrFingerprint: string) => Certificate | undefined;
  clock: Clock;
  random: (n: number) => Uint8Array;
  log: Logger;
  retry?: Partial<RetryPolicy>;
  /** Every refused envelope or undecryptable message; wire it to the refusal log. */
  onRefused: RefusalCallback;
}

export interface PendingMessage {
  id: string;
  /** The recipient's node name. */
  to: string;
  attempts: number;
  nextAt: number;
}

export type DirectStats = Record<"sent" | "delivered" | "duplicates" | "acked" | "dropped", number>;

export interface DirectMessaging {
  /** Subscribes to this node's inbox and resumes the outbox. */
  start(): Promise<void>;
  /** Resolves once the message is durably queued, not when it is delivered. */
  send(toNode: string, type: string, payload: Uint8Array): Promise<{ id: string }>;
  onMessage(handler: DirectHandler): () => void;
  pending(): PendingMessage[];
  /** Retries now, skipping the backoff, e.g. when a peer's heartbeat shows it is back. */
  retryNow(nodeOrFingerprint?: string): void;
  stats(): DirectStats;
  stop(): Promise<void>;
}

const WIRE_VERSION = 1;
const ID_BYTES = 16;
const MSG_TYPE = /^[a-z][a-z0-9._-]{0,63}$/;
/** Old receipts are deleted at most this often, on a delivery. */
const PRUNE_EVERY_MS = 60_000;
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** Plaintext layout: u8 version | 16-byte message id | u8 type length | type (ASCII) | payload. */
function wrap(id: Uint8Array, type: string, payload: Uint8Array): Uint8Array {
  const t = new TextEncoder().encode(type);
  const out = new Uint8Array(2 + ID_BYTES + t.length + payload.length);
  out[0] = WIRE_VERSION;
  out.set(id, 1);
  out[1 + ID_BYTES] = t.length;
  out.set(t, 2 + ID_BYTES);
  out.set(payload, 2 + ID_BYTES + t.length);
  return out;
}

function unwrap(p: Uint8Array): { id: string; type: string; payload: Uint8Array } | undefined {
  if (p.length < 2 + ID_BYTES || p[0] !== WIRE_VERSION) return undefined;
  const typeEnd = 2 + ID_BYTES + (p[1 + ID_BYTES] ?? 0);
  if (p.length < typeEnd) return undefined;
  const type = Buffer.from(p.subarray(2 + ID_BYTES, typeEnd)).toString("latin1");
  if (!MSG_TYPE.test(type)) return undefined;
  return { id: hex(p.subarray(1, 1 + ID_BYTES)), type, payload: p.slice(typeEnd) };
}

interface OutboxRow {
  id: string;
  recipient: string;
  recipient_node: string;
  created_at: number;
  attempts: number;
  next_at: number;
  sealed: Uint8Array;
}

export function createDirectMessaging(opts: DirectMessagingOptions): DirectMessaging {
  const { store, transport, fleet, self, clock, log } = opts;
  const retry = { ...DEFAULT_DIRECT_RETRY, ...opts.retry };
  if (!(retry.initialMs >= 1 && retry.maxMs >= retry.initialMs && retry.maxAgeMs > 0))
    throw kianaError("MESH_DIRECT_INVALID", "retry needs 1 <= initialMs <= maxMs and maxAgeMs > 0", retry);
  const { onRefused } = opts;
  const db = store.db;
  const q = {
    insert: db.query<unknown, [string, string, string, number, number, Uint8Array]>(
      `INSERT INTO mesh_outbox (id, recipient, recipient_node, created_at, attempts, next_at, sealed)
       VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6)`,
    ),
    due: db.query<OutboxRow, [number]>("SELECT * FROM mesh_outbox WHERE next_at <= ? ORDER BY next_at"),
    nextAt: db.query<{ at: number | null }, []>("SELECT min(next_at) AS at FROM mesh_outbox"),
    bump: db.query<unknown, [number, number, string]>(
      "UPDATE mesh_outbox SET attempts = ?, next_at = ? WHERE id = ?",
    ),
    remove: db.query<unknown, [string]>("DELETE FROM mesh_outbox WHERE id = ?"),
    acked: db.query<unknown, [string, string]>("DELETE FROM mesh_outbox WHERE id = ? AND recipient = ?"),
    rush: db.query<unknown, [number, string | null]>(
      "UPDATE mesh_outbox SET next_at = min(next_at, ?1) WHERE ?2 IS NULL OR recipient = ?2 OR recipient_node = ?2",
    ),
    pending: db.query<{ id: string; to: string; attempts: number; nextAt: number }, []>(
      'SELECT id, recipient_node AS "to", attempts, next_at AS nextAt FROM mesh_outbox ORDER BY created_at, id',
    ),
    seen: db.query<{ one: number }, [string, string]>(
      "SELECT 1 AS one FROM mesh_direct_seen WHERE sender = ? AND id = ?",
    ),
    remember: db.query<unknown, [string, string, number]>(
      "INSERT OR IGNORE INTO mesh_direct_seen (sender, id, seen_at) VALUES (?, ?, ?)",
    ),
    forget: db.query<unknown, [number]>("DELETE FROM mesh_direct_seen WHERE seen_at < ?"),
  };
  // Sent under the sender's own tree (`<from>/dm/<to>`): the broker's ACL lets a device write
  // nowhere else, so a recipient-owned inbox would refuse every device but the hub.
  nodeTopic(fleet, self.node); // checks the name before it goes into a pattern
  const inbox = fleetPattern(fleet, "+", "dm", self.node);
  const outbox = (to: string) => nodeTopic(fleet, self.node, "dm", to);
  const handlers = new Set<DirectHandler>();
  const stats: DirectStats = { sent: 0, delivered: 0, duplicates: 0, acked: 0, dropped: 0 };
  // Publishes still waiting in the transport (QoS 1 while offline): one per message is enough.
  const inFlight = new Set<string>();
  const delivering = new Set<string>();
  let cancelTimer: (() => void) | undefined;
  let unsubscribe: (() => Promise<void>) | undefined;
  let started = false;
  let stopped = false;
  let lastPrune = Number.NEGATIVE_INFINITY;

  const publish = (topic: string, bytes: Uint8Array, what: Record<string, unknown>, done?: () => void) => {
    transport
      .publish(topic, bytes, { qos: 1 })
      .catch((err) => log.warn({ ...what, error: describeError(err) }, "direct publish failed; will retry"))
      .finally(done);
  };

  const backoff = (attempts: number) =>
    Math.min(retry.maxMs, retry.initialMs * 2 ** Math.min(attempts - 1, 30));

  function attempt(row: OutboxRow, now: number): void {
    const attempts = row.attempts + 1;
    // Never scheduled past its expiry, so an undeliverable message is dropped on time.
    q.bump.run(attempts, Math.min(now + backoff(attempts), row.created_at + retry.maxAgeMs), row.id);
    if (inFlight.has(row.id)) return;
    let bytes: Uint8Array;
    try {
      // A fresh envelope per attempt: the receiver's replay guard refuses a reused sequence.
      bytes = opts.seal(DIRECT_TYPE, row.sealed);
    } catch (err) {
      log.error({ id: row.id, error: describeError(err) }, "cannot sign a direct message");
      return;
    }
    inFlight.add(row.id);
    const to = { id: row.id, to: row.recipient_node, attempt: attempts };
    publish(outbox(row.recipient_node), bytes, to, () => inFlight.delete(row.id));
  }

  function flush(): void {
    cancelTimer?.();
    cancelTimer = undefined;
    if (!started || stopped) return;
    const now = clock.now();
    for (const row of q.due.all(now)) {
      if (now - row.created_at >= retry.maxAgeMs) {
        q.remove.run(row.id);
        stats.dropped++;
        log.warn(
          { id: row.id, to: row.recipient_node, attempts: row.attempts },
          "direct message expired unacknowledged; dropped",
        );
      } else attempt(row, now);
    }
    const next = q.nextAt.get()?.at;
    if (next != null) cancelTimer = clock.setTimeout(flush, Math.max(0, next - clock.now()));
  }

  // Receipts outlive the sender's retry window by the envelope clock tolerance; a retry older
  // than that has been dropped by its sender.
  function prune(): void {
    lastPrune = clock.monotonic();
    q.forget.run(clock.now() - retry.maxAgeMs - DEFAULT_MAX_SKEW_MS);
  }

  const ack = (to: Certificate, id: string) =>
    publish(outbox(to.name), opts.seal(DIRECT_ACK_TYPE, Buffer.from(id, "hex")), {
      id,
      to: to.name,
    });

  function onAck(from: string, body: Uint8Array) {
    if (body.length !== ID_BYTES) return onRefused(from, "malformed", `an ack of ${body.length} bytes`);
    if (q.acked.run(hex(body), from).changes > 0) stats.acked++;
  }

  async function receive(bytes: Uint8Array): Promise<void> {
    const r = opts.open(bytes);
    if (!r.ok) return onRefused(r.from, r.reason, r.detail);
    const { envelope, sender } = r;
    if (envelope.type === DIRECT_ACK_TYPE) return onAck(envelope.from, envelope.body);
    if (envelope.type !== DIRECT_TYPE)
      return onRefused(envelope.from, "malformed", `a "${envelope.type}" envelope in the direct inbox`);
    const opened = openDirect({
      recipientKeys: self.keys,
      senderAgreementKey: sender.agreementKey,
      senderFp: envelope.from,
      recipientFp: self.fingerprint,
      sealed: envelope.body,
    });
    if (!opened.ok) return onRefused(envelope.from, opened.reason, opened.detail);
    const msg = unwrap(opened.plaintext);
    if (!msg) return onRefused(envelope.from, "malformed", "the decrypted message has no valid header");
    const key = `${envelope.from}/${msg.id}`;
    // A copy arriving while the first is with the handlers: the first one acks.
    if (delivering.has(key)) return;
    if (q.seen.get(envelope.from, msg.id)) {
      stats.duplicates++;
      return ack(sender, msg.id);
    }
    // Without a handler the message would be acked into nothing; the sender retries instead.
    if (handlers.size === 0) return log.debug({ id: msg.id }, "direct message before any handler; not acked");
    delivering.add(key);
    try {
      for (const h of [...handlers]) await h(sender, msg.type, msg.payload, msg.id);
      // Durable before the ack: a receipt lost in a power cut while the ack was lost too would let
      // the sender's retry through a second time.
      store.transaction(() => q.remember.run(envelope.from, msg.id, clock.now()), { durable: true });
    } catch (err) {
      log.error(
        { id: msg.id, from: sender.name, error: describeError(err) },
        "direct message handler failed; not acked",
      );
      return;
    } finally {
      delivering.delete(key);
    }
    stats.delivered++;
    if (clock.monotonic() - lastPrune >= PRUNE_EVERY_MS) prune();
    ack(sender, msg.id);
  }

  return {
    async start() {
      if (started) return;
      prune();
      unsubscribe = await transport.subscribe(inbox, (_topic, bytes) => {
        if (stopped) return;
        // Never throws into the transport: a bad message must not break the subscription.
        receive(bytes).catch((err) =>
          log.error({ error: describeError(err) }, "direct inbox message failed"),
        );
      });
      started = true;
      flush();
    },

    async send(toNode, type, payload) {
      const peer = opts.lookupPeer(toNode);
      if (!peer)
        throw kianaError("MESH_PEER_UNKNOWN", `no enrolled peer "${toNode}" to send to`, { peer: toNode });
      if (!MSG_TYPE.test(type))
        throw kianaError("MESH_DIRECT_INVALID", `message type "${type}" must be 1-64 of a-z 0-9 . _ -`);
      const rawId = opts.random(ID_BYTES);
      const id = hex(rawId);
      const recipient = certificateFingerprint(peer);
      const sealed = sealDirect({
        senderKeys: self.keys,
        recipientAgreementKey: peer.agreementKey,
        senderFp: self.fingerprint,
        recipientFp: recipient,
        plaintext: wrap(rawId, type, payload),
        random: opts.random,
      });
      if (sealed.length > DEFAULT_MAX_BODY_BYTES)
        throw kianaError("MESH_DIRECT_INVALID", `a direct message of ${payload.length} bytes is too large`);
      const now = clock.now();
      store.transaction(() => q.insert.run(id, recipient, peer.name, now, now, sealed), { durable: true });
      stats.sent++;
      flush();
      return { id };
    },

    onMessage(handler) {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },

    pending: () => q.pending.all(),

    retryNow(peer) {
      q.rush.run(clock.now(), peer ?? null);
      flush();
    },

    stats: () => ({ ...stats }),

    async stop() {
      stopped = true;
      cancelTimer?.();
      cancelTimer = undefined;
      await unsubscribe?.();
      unsubscribe = undefined;
    },
  };
}
