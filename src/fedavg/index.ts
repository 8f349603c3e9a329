// Federated averaging of small on-device models: the only module other capabilities import.
export { createMemoryFedavgTransport } from "./adapters/memory.ts";
export { createMeshFedavgTransport, FEDAVG_MESSAGE_TYPE, type MeshFedavgOptions } from "./adapters/mesh.ts";
export { loadModel, type StoredModel, saveModel } from "./adapters/model-file.ts";
export { type AddResult, type Aggregator, createAggregator } from "./aggregator.ts";
export { createFedavgClient, type FedavgClient, type FedavgClientOptions } from "./client.ts";
export {
  type Coordinator,
  type CoordinatorOptions,
  createCoordinator,
  type ReleaseRecord,
  type RoundPhase,
  type RoundStatus,
} from "./coordinator.ts";
export {
  createExampleStore,
  type ExampleStore,
  FEDAVG_MIGRATION,
  withFedavgMigration,
} from "./example-store.ts";
export { WAKE_FEATURES, wakeFeatures } from "./features.ts";
export { type ControlMessage, decodeModel, encodeModel, RoundSettings } from "./messages.ts";
export { checkSpec, initParams, type ModelSpec, paramCount, predict } from "./model.ts";
export type { FedavgTransport } from "./ports.ts";
export { addGaussianNoise, clientNoiseStd, clipL2, type DpSettings, l2Norm } from "./privacy.ts";
export {
  MODEL_RELEASE_TYPE,
  parseReleaseBody,
  ReleaseBody,
  releaseBlockBody,
  wakeVerifier,
} from "./release.ts";
export { createRng, type Rng } from "./rng.ts";
export { fixedPointScale, type MaskKeys, type MaskParty } from "./secure-agg.ts";
export {
  DEFAULT_TRAIN,
  delta,
  type Evaluation,
  type Example,
  evaluate,
  type TrainOptions,
  train,
} from "./trainer.ts";
export {
  encodedBytes,
  encodeUpdate,
  readUpdate,
  type UpdateEncoding,
  type UpdateExpectation,
  type UpdateHeader,
  type UpdateSource,
} from "./update-codec.ts";
export { type FedavgView, type ReleaseRow, type RoundRow, releaseRows, roundRow } from "./view.ts";
