// The interfaces the mesh needs from the outside world. Adapters: memory (tests, one process),
// mqtt (mosquitto on the LAN).

export interface PublishOptions {
  /** 1 for what must not be lost (delivered at least once); 0 for heartbeats and the like. */
  qos?: 0 | 1;
  /** The broker keeps the last retained message per topic for late subscribers (presence). */
  retain?: boolean;
}

export type MessageHandler = (topic: string, payload: Uint8Array) => void;

/** A topic-based message bus, MQTT semantics: `+` matches one level, `#` the rest. */
export interface MessageTransport {
  publish(topic: string, payload: Uint8Array, opts?: PublishOptions): Promise<void>;
  /** Resolves once the subscription is active; the returned function unsubscribes. */
  subscribe(pattern: string, handler: MessageHandler): Promise<() => Promise<void>>;
  close(): Promise<void>;
}
