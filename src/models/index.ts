// The models capability as other capabilities see it: model headers (GGUF, ONNX) and the pure
// loading decision. Engines are loaded elsewhere, through platform/engines.ts.

export { type ChatService, createLlamaChat } from "./chat.ts";
export {
  type DecideLoadInput,
  decideLoad,
  type LlamaBackend,
  type LlamaPlan,
  type LoadBudget,
  type LoadDecision,
  type LoadRefusal,
  type MemoryEstimate,
  type OnnxPlan,
  type OnnxProvider,
  refusalError,
  threadsFor,
} from "./fit.ts";
export {
  GGUF_LIMITS,
  type GgufInfo,
  type GgufLimits,
  type GgufSummary,
  type GgufTensorInfo,
  type GgufValue,
  type ReadGgufOptions,
  readGgufInfo,
} from "./gguf.ts";
export { installedBackends } from "./installed-backends.ts";
export {
  createLlamaEngine,
  type LlamaEngine,
  type LlamaModule,
  type ModelRef,
  sequencesFor,
} from "./llama-engine.ts";
export {
  ONNX_LIMITS,
  type OnnxInfo,
  type OnnxLimits,
  type OnnxValueInfo,
  readOnnxInfo,
} from "./onnx-meta.ts";
export { createOnnxSessions, embedWith, type OnnxModule, type OnnxSessions } from "./onnx-sessions.ts";
export { createOpenAiApi, type OpenAiApi } from "./openai-api.ts";
