// Speech-to-text adapters for the hub: pocketsphinx over a JSGF grammar (works today), Whisper ONNX
// (unverified without weights). Other capabilities import from here only.
export { checkJsgfWords, parsePronunciationDict } from "./jsgf.ts";
export { logMel } from "./log-mel.ts";
export { createPocketsphinxStt, type PocketsphinxStt, type PocketsphinxSttOptions } from "./pocketsphinx.ts";
export { createWhisperOnnxStt, type WhisperOnnxOptions } from "./whisper-onnx.ts";
