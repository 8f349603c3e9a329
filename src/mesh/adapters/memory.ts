// An in-process message bus with MQTT semantics (wildcards, retained messages), so several mesh
// nodes can be wired together inside one test: `const bus = createMemoryBus(); bus.connect()`.
import type { MessageHandler, MessageTransport, PublishOptions } from "../ports.ts";
import { topicMatches } from "../topics.ts";

export interface MemoryBus {
  /** A new client on this bus. */
  connect(): MessageTransport;
  /** Every publish that crossed the bus, for assertions on what left a node. */
  readonly log: { topic: string; payload: Uint8Array }[];
}

export function createMemoryBus(): MemoryBus {
  const subs = new Set<{ pattern: string; handler: MessageHandler }>();
  const retained = new Map<string, Uint8Array>();
  const log: { topic: string; payload: Uint8Array }[] = [];

  return {
    log,
    connect() {
      const mine = new Set<{ pattern: string; handler: MessageHandler }>();
      let closed = false;
      return {
        async publish(topic: string, payload: Uint8Array, opts: PublishOptions = {}) {
          if (closed) throw new Error("transport closed");
          const copy = Uint8Array.from(payload);
          log.push({ topic, payload: copy });
          if (opts.retain) {
            if (copy.length === 0) retained.delete(topic);
            else retained.set(topic, copy);
          }
          // Deliver on a later tick, as a broker would: never inside the publisher's call stack.
          for (const s of [...subs]) {
            if (topicMatches(s.pattern, topic)) queueMicrotask(() => s.handler(topic, copy));
          }
        },
        async subscribe(pattern: string, handler: MessageHandler) {
          if (closed) throw new Error("transport closed");
          const sub = { pattern, handler };
          subs.add(sub);
          mine.add(sub);
          for (const [topic, payload] of retained) {
            if (topicMatches(pattern, topic)) queueMicrotask(() => handler(topic, payload));
          }
          return async () => {
            subs.delete(sub);
            mine.delete(sub);
          };
        },
        async close() {
          closed = true;
          for (const s of mine) subs.delete(s);
          mine.clear();
        },
      };
    },
  };
}
