// The assistant capability: intents matched from transcripts, their handlers and ports, and the
// speech grammar generated from the same templates. Other capabilities import from here.
export {
  type Assistant,
  type AssistantOptions,
  type AssistantResult,
  createAssistant,
  DEFAULT_MAX_INPUT_CHARS,
  type HandleOptions,
} from "./assistant.ts";
export { builtinIntents, INTENT } from "./builtin-intents.ts";
export { type ChainFactsOptions, createChainFacts } from "./chain-facts.ts";
export { checkDevices, type DeviceCommand, type DeviceState, deviceCommand } from "./device-control.ts";
export {
  DEFAULT_SPEECH_WORDS,
  type DeviceEntity,
  type ListEntry,
  normalizeText,
  parseNumber,
  type SlotType,
  type SpeechWords,
} from "./entities.ts";
export { createMemoryFacts, type FactsPort, recallWords } from "./facts.ts";
export { GRAMMAR_NAME, toJsgf } from "./grammar.ts";
export {
  defineIntent,
  type Intent,
  type IntentDefinition,
  type IntentMatch,
  matchIntent,
  parseTemplate,
  type SlotValues,
  type TemplateNode,
} from "./intents.ts";
export { grammarWords, type JsgfGrammar, jsgfAccepts, parseJsgf } from "./jsgf.ts";
export { type LlmFallback, NOT_UNDERSTOOD } from "./llm-fallback.ts";
export {
  createTimerKeeper,
  formatDuration,
  type RunningTimer,
  type TimerKeeper,
  type TimerRang,
} from "./timers.ts";
