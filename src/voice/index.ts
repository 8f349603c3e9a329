// The voice capability for the rest of kiana: the satellite (state machine and its Wyoming server),
// the hub (links to satellites, the speech pipeline, speech services) and the sound card adapters.
// Engines (onnxruntime models, pocketsphinx, espeak-ng) are imported by the caller, lazily.

export {
  type AlsaMicrophoneOptions,
  type AlsaSpeakerOptions,
  createAlsaMicrophone,
  createAlsaSpeaker,
} from "./audio/alsa.ts";
export { createMuteFlag, type Microphone, type MuteFlag, type Speaker } from "./audio/ports.ts";
export { createVoiceHub, parseSatelliteAddress, type VoiceHub, type VoiceHubOptions } from "./hub/hub.ts";
export type { LinkState, SatelliteLink } from "./hub/satellite-link.ts";
export type { HubAssistant, UtteranceResult } from "./hub/satellite-session.ts";
export { createSpeechServer, type SpeechServerOptions, speechServiceInfo } from "./hub/speech-server.ts";
export { createWyomingAdvertiser, type WyomingAdvertiser } from "./satellite/advertise.ts";
export {
  createSatellite,
  type Satellite,
  type SatelliteActivity,
  type SatelliteOptions,
  type SatelliteState,
  type WakeWordBinding,
} from "./satellite/satellite.ts";
export {
  createSatelliteServer,
  type SatelliteInfoSpec,
  satelliteInfo,
} from "./satellite/satellite-server.ts";
export { defaultSounds, NO_SOUNDS, type SatelliteSounds } from "./satellite/sounds.ts";
export type * from "./speech-ports.ts";
