// The `fedavg` section of the config tree: rounds, local training, update encoding and privacy.
import { Type as T } from "@sinclair/typebox";

export const FedavgSchema = T.Object(
  {
    enabled: T.Boolean({
      default: false,
      description:
        "Federated averaging of the wake-word verifier: the hub coordinates rounds, nodes and satellites train on their own examples and send only updates.",
    }),
    roundMinutes: T.Integer({
      minimum: 0,
      maximum: 10080,
      default: 0,
      description:
        "How often the hub starts a round; 0: only when asked (`kiana fedavg start-round`, admin page).",
    }),
    minClients: T.Integer({
      minimum: 1,
      maximum: 1000,
      default: 3,
      description: "Fewest devices whose updates a round needs before its model is released.",
    }),
    maxClients: T.Integer({
      minimum: 1,
      maximum: 1000,
      default: 10,
      description: "Most devices in one round's cohort; the join window closes early once this many joined.",
    }),
    joinSeconds: T.Integer({
      minimum: 1,
      maximum: 3600,
      default: 30,
      description: "How long devices have to join a round after it is announced.",
    }),
    deadlineSeconds: T.Integer({
      minimum: 1,
      maximum: 86400,
      default: 600,
      description: "Time from the announcement by which updates must have arrived.",
    }),
    revealSeconds: T.Integer({
      minimum: 1,
      maximum: 3600,
      default: 30,
      description: "With secure aggregation: how long survivors have to reveal the seeds of dropped devices.",
    }),
    epochs: T.Integer({
      minimum: 1,
      maximum: 100,
      default: 2,
      description: "Passes over its own examples a device makes per round.",
    }),
    batchSize: T.Integer({
      minimum: 1,
      maximum: 4096,
      default: 16,
      description: "Examples per gradient step.",
    }),
    learningRate: T.Number({
      exclusiveMinimum: 0,
      maximum: 10,
      default: 0.005,
      description: "Step size of the local optimiser (Adam).",
    }),
    clipNorm: T.Number({
      exclusiveMinimum: 0,
      maximum: 1e6,
      default: 5,
      description: "L2 bound on each device's update; larger ones are scaled down before sending.",
    }),
    encoding: T.Union([T.Literal("int8"), T.Literal("float32")], {
      default: "int8",
      description: "How updates travel: int8 (a quarter of the bytes) or float32.",
    }),
    secureAggregation: T.Boolean({
      default: false,
      description: "Pairwise masks, so the hub learns only the sum of the updates, never one device's.",
    }),
    noiseMultiplier: T.Number({
      minimum: 0,
      maximum: 100,
      default: 0,
      description:
        "Gaussian noise added to each clipped update, as a multiple of clipNorm; 0: no differential privacy.",
    }),
    model: T.Union([T.Literal("logistic"), T.Literal("mlp")], {
      default: "logistic",
      description: "The verifier: logistic regression, or one hidden tanh layer (mlp).",
    }),
    hidden: T.Integer({
      minimum: 1,
      maximum: 4096,
      default: 16,
      description: "Hidden units of the mlp model; ignored for logistic.",
    }),
    maxExamples: T.Integer({
      minimum: 1,
      maximum: 1_000_000,
      default: 1000,
      description:
        "Most of its newest examples a device trains on per round (also bounds an update's weight).",
    }),
  },
  { additionalProperties: false, default: {} },
);
