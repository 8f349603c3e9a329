// The Wyoming protocol for the rest of kiana: framing, typed events, the TCP server and client, and
// the mDNS record set. Satellite and hub pipelines import from here only.

export { type ConnectWyomingOptions, connectWyoming, type WyomingClient } from "./client.ts";
export type { ByteSink, SendOutcome, WyomingConnection } from "./connection.ts";
export {
  type AudioChunk,
  type AudioStart,
  audioChunk,
  audioStart,
  audioStop,
  type Detect,
  type Detection,
  type ErrorData,
  type EventDataMap,
  type EventType,
  errorEvent,
  isEventType,
  type KnownEvent,
  type ParsedEvent,
  type PipelineStage,
  parseEvent,
  type RunPipeline,
  readEvent,
  type Synthesize,
  type TimerStarted,
  type TimerUpdated,
  type Transcribe,
  type Transcript,
  wyomingEvent,
} from "./events.ts";
export {
  createFrameDecoder,
  DEFAULT_FRAME_LIMITS,
  type Decoded,
  encodeEvent,
  type FrameDecoder,
  type FrameError,
  type FrameLimits,
  WYOMING_VERSION,
  type WyomingEvent,
} from "./framing.ts";
export type { Artifact, AudioFormat, Info, SatelliteInfo } from "./info.ts";
export { parseInfo } from "./info.ts";
export {
  WYOMING_SERVICE_DOMAIN,
  type WyomingServiceSpec,
  wyomingInstanceName,
  wyomingServiceRecords,
} from "./mdns-service.ts";
export {
  createWyomingServer,
  WYOMING_SATELLITE_PORT,
  type WyomingServer,
  type WyomingServerOptions,
} from "./server.ts";
