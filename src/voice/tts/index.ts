// Text-to-speech adapters for the hub: espeak-ng (works today) and Piper ONNX voices (unverified
// without a voice). Other capabilities import from here only.
export { createEspeakTts, type EspeakTtsOptions } from "./espeak.ts";
export { createPiperTts, type PiperTtsOptions, parsePiperConfig } from "./piper-onnx.ts";
export { splitSentences } from "./sentences.ts";
