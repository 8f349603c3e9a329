// On-device listening for the satellite: openWakeWord wake words and Silero VAD on onnxruntime. The
// model files come from configuration; the openWakeWord files in node_modules are for tests only.

export type { OnnxModule } from "./onnx-model.ts";
export {
  createWakeDetector,
  type OpenWakeWordDetector,
  WAKE_CHUNK_SAMPLES,
  WAKE_EMBEDDING_DIM,
  WAKE_WINDOW_EMBEDDINGS,
  type WakeDetectorOptions,
  type WakeEmbedding,
  type WakeModelSpec,
} from "./open-wake-word.ts";
export {
  createVoiceActivity,
  type SileroVoiceActivity,
  VAD_WINDOW_SAMPLES,
  type VoiceActivityOptions,
} from "./silero-vad.ts";
