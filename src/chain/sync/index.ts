// Chain sync: what one node lacks is found by comparing signed heads and fetched in verified
// batches. The transport is a SyncPort; adapters live beside this file.
export { headsDigest, localHeads } from "./heads.ts";
export { type PullOptions, type PullReport, pullFrom } from "./initiator.ts";
export { createMemoryAuthorKeys, createMemoryPeerScores, memoryPortPair } from "./memory-ports.ts";
export { createMqttSyncLinks, MQTT_BATCH_BYTES, MQTT_SYNC_TYPE, type MqttSyncOptions } from "./mqtt-link.ts";
export type { AuthorKeys, KnownAuthor, PeerScores, SyncPort } from "./ports.ts";
export { applyBatch } from "./receiver.ts";
export { DEFAULT_BATCH_BYTES, type ResponderOptions, serveSync } from "./responder.ts";
export { type SyncSchedule, type SyncTarget, startSyncSchedule, syncTargets } from "./schedule.ts";
export { createSqliteAuthorKeys, createSqlitePeerScores } from "./sqlite-ports.ts";
export { decodeFrame, encodeFrame, type Frame, LIMITS } from "./wire.ts";
export {
  CHAIN_SYNC_ROUTE,
  connectWsSync,
  createWsSyncServer,
  type WsSyncConnection,
  type WsSyncConnectOptions,
  type WsSyncServerOptions,
} from "./ws-link.ts";
