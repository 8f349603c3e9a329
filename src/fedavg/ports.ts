// What FedAvg needs from the mesh: small control messages and bulk bytes (models, updates) between
// devices named by fingerprint. The mesh adapter authenticates the sender; the memory adapter lets
// a coordinator and five clients run in one test and records every byte that crossed.
import type { UpdateSource } from "./update-codec.ts";

export interface FedavgTransport {
  /** This device's fingerprint. */
  readonly self: string;
  send(to: string, control: Uint8Array): Promise<void>;
  /** Models and updates: over the mesh, a bulk transfer rather than an MQTT message. */
  sendBulk(to: string, bytes: Uint8Array): Promise<void>;
  /** Handlers for what arrives; `from` is the authenticated sender. Returns an unsubscribe. */
  listen(handlers: {
    control(from: string, bytes: Uint8Array): void;
    bulk(from: string, source: UpdateSource): void;
  }): () => void;
}
