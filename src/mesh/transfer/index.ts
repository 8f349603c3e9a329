// Bulk file transfer between enrolled nodes: LAN HTTP range requests (primary on one LAN, see
// scripts/benchmarks/mesh-transfer.ts), WebRTC data channels signalled over MQTT, chunked MQTT fallback.
export { createEnvelopeAuth, type EnvelopeAuth, type EnvelopeAuthOptions } from "./auth.ts";
export { createFileCatalog, type SharedFiles, type ShareOptions } from "./catalog.ts";
export type { DataChannelModule, RtcOptions } from "./datachannel-common.ts";
export { createDataChannelPath, type DataChannelPathOptions } from "./datachannel-path.ts";
export {
  createDataChannelServer,
  type DataChannelServer,
  type DataChannelServerOptions,
} from "./datachannel-server.ts";
export {
  createLanHttpHandler,
  createLanHttpPath,
  type LanHttpServer,
  startLanHttpServer,
} from "./lan-http-path.ts";
export { DEFAULT_CHUNK_SIZE, parseOffer, type TransferOffer } from "./manifest.ts";
export { createMqttPath, type MqttPathOptions, startMqttTransferServer } from "./mqtt-path.ts";
export type {
  ChunkSink,
  FileCatalog,
  Open,
  PathName,
  PeerRef,
  Seal,
  SharedFile,
  TransferPath,
} from "./ports.ts";
export { type ReceivedFile, safeFileName } from "./receive-queue.ts";
export {
  createTransferService,
  type TransferService,
  type TransferServiceOptions,
  type TransferStats,
} from "./service.ts";
export { createRtcSignalling, type RtcSignalling } from "./signalling.ts";
export {
  type Announcement,
  type Attempt,
  onFileOffered,
  type ReceiveFileOptions,
  type ReceiveResult,
  receiveFile,
  sendFile,
} from "./transfer.ts";
