// Chain sync through the fleet's broker, for peers that cannot reach each other's HTTP listener:
// each frame travels in a signed envelope on the sender's own topic (the broker lets a device
// write only there), `kiana/v1/<fleet>/<sender>/chain-sync/<recipient>`, tagged with a session id.
import { randomBytes } from "node:crypto";
import type { MessageTransport } from "../../mesh/ports.ts";
import { nodeTopic, TOPIC_ROOT } from "../../mesh/topics.ts";
import type { SyncPort } from "./ports.ts";
import { createQueuePort, type QueuePort } from "./queue-port.ts";
import { decodeFrame } from "./wire.ts";

export const MQTT_SYNC_TYPE = "chain.sync";
/** Envelopes carry at most 256 KiB; batches served here stay well under it. */
export const MQTT_BATCH_BYTES = 128 * 1024;
const TO_RESPONDER = 0;
const TO_INITIATOR = 1;
const SESSION_BYTES = 8;

export type Opened =
  | { ok: true; envelope: { from: string; type: string; body: Uint8Array }; sender: { name: string } }
  | { ok: false; reason: string; detail: string };

export interface MqttSyncOptions {
  transport: MessageTransport;
  fleet: string;
  /** This device's node name (its topic level). */
  me: string;
  seal(type: string, body: Uint8Array): Uint8Array;
  open(bytes: Uint8Array): Opened;
  /** Runs one responder session (serveSync); the port closes when it returns. */
  serve(port: SyncPort, peer: string): Promise<void>;
  onRefused?(reason: string): void;
  maxSessions?: number;
}

export function createMqttSyncLinks(o: MqttSyncOptions) {
  const serving = new Map<string, QueuePort>();
  const pulling = new Map<string, QueuePort>();
  const max = o.maxSessions ?? 4;
  let unsubscribe: (() => Promise<void>) | undefined;

  const publish = (to: string, role: number, session: Uint8Array, frame: Uint8Array) => {
    const body = new Uint8Array(1 + SESSION_BYTES + frame.length);
    body[0] = role;
    body.set(session, 1);
    body.set(frame, 1 + SESSION_BYTES);
    void o.transport.publish(nodeTopic(o.fleet, o.me, "chain-sync", to), o.seal(MQTT_SYNC_TYPE, body), {
      qos: 1,
    });
  };

  function onMessage(topic: string, payload: Uint8Array) {
    const opened = o.open(payload);
    if (!opened.ok) return o.onRefused?.(`${opened.reason}: ${opened.detail}`);
    const { from, type, body } = opened.envelope;
    const name = topic.split("/")[3];
    // The topic names the sender too; the envelope's signer must be that device.
    if (type !== MQTT_SYNC_TYPE || name !== opened.sender.name || body.length <= 1 + SESSION_BYTES)
      return o.onRefused?.(`malformed chain-sync message from ${opened.sender.name}`);
    const session = body.subarray(1, 1 + SESSION_BYTES);
    const frame = body.slice(1 + SESSION_BYTES);
    const key = `${from}/${Buffer.from(session).toString("hex")}`;
    if (body[0] === TO_INITIATOR) return pulling.get(key)?.push(frame);
    let port = serving.get(key);
    if (!port) {
      // Only a hello opens a session: stray frames of a finished one are dropped.
      const d = decodeFrame(frame);
      if (!d.ok || d.frame.kind !== "hello" || serving.size >= max) return;
      const fresh = createQueuePort({
        send: (f) => publish(opened.sender.name, TO_INITIATOR, session, f),
        close: () => serving.delete(key),
      });
      serving.set(key, fresh);
      port = fresh;
      void o.serve(fresh, from).finally(() => fresh.close());
    }
    port.push(frame);
  }

  return {
    async start() {
      unsubscribe = await o.transport.subscribe(`${TOPIC_ROOT}/${o.fleet}/+/chain-sync/${o.me}`, onMessage);
    },
    async stop() {
      for (const p of [...serving.values(), ...pulling.values()]) p.close();
      await unsubscribe?.();
    },
    /** An initiator's port to the peer `name` whose fingerprint is `fingerprint`. */
    connect(name: string, fingerprint: string): SyncPort {
      const session = new Uint8Array(randomBytes(SESSION_BYTES));
      const key = `${fingerprint}/${Buffer.from(session).toString("hex")}`;
      const port = createQueuePort({
        send: (f) => publish(name, TO_RESPONDER, session, f),
        close: () => pulling.delete(key),
      });
      pulling.set(key, port);
      return port;
    },
    sessions: () => ({ serving: serving.size, pulling: pulling.size }),
  };
}
