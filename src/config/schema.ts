// The config tree: one typed schema with a description and a default for every field.
// Sources (TOML file, KIANA_* environment, flags) are merged over these defaults in load.ts.
import { type Static, Type as T } from "@sinclair/typebox";

const Port = (def: number, description: string) =>
  T.Integer({ minimum: 0, maximum: 65535, default: def, description: `${description} 0 picks a free port.` });

export const ConfigSchema = T.Object(
  {
    node: T.Object(
      {
        name: T.String({
          minLength: 1,
          maxLength: 63,
          pattern: "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$",
          default: "kiana",
          description: "Device name on the LAN: lowercase letters, digits and dashes (a DNS label).",
        }),
        role: T.Union([T.Literal("hub"), T.Literal("node"), T.Literal("satellite")], {
          default: "node",
          description:
            "What this device runs: hub (broker, speech, LLM), node (replica, local models), satellite (voice only).",
        }),
        fleet: T.String({
          minLength: 1,
          maxLength: 63,
          pattern: "^[a-z0-9][a-z0-9-]*$",
          default: "dev",
          description: "Fleet id; devices only talk to devices of the same fleet.",
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    admin: T.Object(
      {
        host: T.String({
          minLength: 1,
          default: "127.0.0.1",
          description: "Address the admin page listens on; 0.0.0.0 on a device so the LAN can reach it.",
        }),
        port: Port(8080, "Port of the admin page and the HTTP API."),
        sessionHours: T.Number({
          exclusiveMinimum: 0,
          maximum: 720,
          default: 12,
          description: "How long an admin login lasts.",
        }),
        metricsToken: T.String({
          default: "",
          description: "Bearer token for GET /metrics; empty means /metrics needs an admin login.",
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    log: T.Object(
      {
        level: T.Union(
          ["trace", "debug", "info", "warn", "error", "fatal"].map((l) => T.Literal(l)),
          { default: "info", description: "Lowest level that is logged." },
        ),
        format: T.Union([T.Literal("auto"), T.Literal("json"), T.Literal("pretty")], {
          default: "auto",
          description:
            "json for journald, pretty for a terminal, auto picks by whether stdout is a terminal.",
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    mesh: T.Object(
      {
        enabled: T.Boolean({
          default: true,
          description: "Advertise this device over mDNS and, once enrolled, join the fleet's broker.",
        }),
        hubUrl: T.String({
          default: "",
          description:
            "Admin URL of the hub (http://host:port); empty: found over mDNS (_kiana._tcp, role hub).",
        }),
        heartbeatSeconds: T.Integer({
          minimum: 1,
          maximum: 3600,
          default: 10,
          description:
            "How often peers announce themselves; a peer is degraded after 2 missed, failed after 5.",
        }),
        revoked: T.Array(T.String({ pattern: "^[0-9a-f]{32}$" }), {
          default: [],
          description: "Fingerprints of certificates that are no longer trusted.",
        }),
        transferPaths: T.Array(
          T.Union([T.Literal("lan-http"), T.Literal("datachannel"), T.Literal("mqtt")]),
          {
            default: ["lan-http", "datachannel", "mqtt"],
            description:
              "Paths tried, in order, to fetch a file offered by a peer: lan-http (fastest on one LAN), datachannel (WebRTC, needs the engine), mqtt (through the broker).",
          },
        ),
        iceServers: T.Array(T.String({ pattern: "^(stun|turn|turns):[^\\s]+$" }), {
          default: [],
          description:
            "STUN/TURN servers for data channels between peers on different networks (stun:host:port, turn:user:pass@host:port); empty: host candidates only, LAN without internet.",
        }),
        maxReceiveMb: T.Integer({
          minimum: 0,
          default: 1024,
          description: "Largest file accepted from a peer, in MiB; larger offers are refused.",
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    broker: T.Object(
      {
        managed: T.Boolean({
          default: true,
          description:
            "On a hub: run mosquitto as a child with the generated config. false: the system's mosquitto service reads the same generated files.",
        }),
        host: T.String({
          minLength: 1,
          default: "127.0.0.1",
          description: "Address the hub's broker listens on; 0.0.0.0 on a device so the LAN can reach it.",
        }),
        port: Port(1883, "MQTT port of the hub's broker."),
        bridgeAddress: T.String({
          default: "",
          description:
            "host:port of an upstream MQTT broker (EMQX or mosquitto) to bridge kiana/v1/<fleet>/# to; empty: no bridge.",
        }),
        bridgeUsername: T.String({ default: "", description: "User name at the upstream broker." }),
        bridgePassword: T.String({ default: "", description: "Password at the upstream broker." }),
      },
      { additionalProperties: false, default: {} },
    ),
    chain: T.Object(
      {
        syncSeconds: T.Integer({
          minimum: 0,
          maximum: 86400,
          default: 30,
          description:
            "How often the running node pulls the knowledge chain from each reachable enrolled peer; 0: only on demand (`kiana chain sync`).",
        }),
        validators: T.Array(T.String({ pattern: "^[0-9a-f]{32}$" }), {
          default: [],
          description:
            "Fingerprints of the genesis validators that sign checkpoints; empty: this device alone (a fleet of one). Votes on the chain add or remove validators later.",
        }),
        checkpointSeconds: T.Integer({
          minimum: 0,
          maximum: 86400,
          default: 60,
          description: "How often a validator proposes or endorses checkpoints of the log heads; 0: never.",
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    models: T.Object(
      {
        apiToken: T.String({
          default: "",
          description:
            "Bearer token for the OpenAI-compatible API under /v1; empty: one is generated once and kept in <data>/api-token.",
        }),
        reserveMb: T.Integer({
          minimum: 0,
          default: 1024,
          description:
            "RAM in MiB kept back for the rest of the runtime when deciding what model fits (context, GPU layers).",
        }),
        routeModels: T.Array(T.String({ minLength: 1, maxLength: 64 }), {
          default: [],
          maxItems: 32,
          description:
            "Model names always answered by an enrolled peer that has them loaded (hub first, then the fastest), never on this board; a model not installed here, or too big for it, goes to a peer anyway.",
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    voice: T.Object(
      {
        enabled: T.Union([T.Literal("auto"), T.Literal("on"), T.Literal("off")], {
          default: "auto",
          description: "Voice services; auto: the satellite on a satellite, the speech services on a hub.",
        }),
        port: Port(10700, "Wyoming port of the satellite, where Home Assistant or the hub connects."),
        satellite: T.Object(
          {
            micDevice: T.String({
              minLength: 1,
              default: "default",
              description: "ALSA capture device (arecord -D).",
            }),
            speakerDevice: T.String({
              minLength: 1,
              default: "default",
              description: "ALSA playback device (aplay -D).",
            }),
            chunkMs: T.Integer({
              minimum: 10,
              maximum: 200,
              multipleOf: 10,
              default: 80,
              description: "Microphone chunk length; 80 ms is openWakeWord's step.",
            }),
            area: T.String({ default: "", description: "Room shown in Home Assistant, e.g. Kitchen." }),
            modelDir: T.String({
              default: "",
              description:
                "Folder with melspectrogram.onnx, embedding_model.onnx and silero_vad.onnx; empty: <data>/voice.",
            }),
            wakeWords: T.Array(
              T.Object(
                {
                  name: T.String({
                    pattern: "^[a-z0-9_]{1,40}$",
                    description: "Wake word name, e.g. hey_jarvis.",
                  }),
                  model: T.String({
                    minLength: 1,
                    description: "Its .onnx file; relative paths are in modelDir.",
                  }),
                  threshold: T.Number({
                    exclusiveMinimum: 0,
                    maximum: 1,
                    default: 0.5,
                    description: "Score that counts as heard.",
                  }),
                  pipeline: T.String({
                    default: "",
                    description: "Pipeline the hub runs for it; empty: the word's name.",
                  }),
                },
                { additionalProperties: false },
              ),
              {
                default: [],
                maxItems: 8,
                description: "Wake words; none: the satellite runs only when triggered.",
              },
            ),
            stopWords: T.Array(T.String({ pattern: "^[a-z0-9_]{1,40}$" }), {
              default: [],
              description: "Wake word names that cancel the current answer instead of starting one.",
            }),
          },
          { additionalProperties: false, default: {} },
        ),
        hub: T.Object(
          {
            satellites: T.Array(T.String({ minLength: 1 }), {
              default: [],
              description:
                "Satellites to drive, host or host:port (10700); found over mDNS as well when discover is on.",
            }),
            discover: T.Boolean({
              default: true,
              description: "Drive satellites found as _wyoming._tcp on the LAN.",
            }),
            servicesPort: Port(
              10300,
              "Wyoming port of the hub's speech-to-text and text-to-speech for Home Assistant.",
            ),
            stt: T.Union([T.Literal("pocketsphinx"), T.Literal("whisper")], {
              default: "pocketsphinx",
              description: "Speech-to-text engine; whisper needs its ONNX model installed.",
            }),
            tts: T.Union([T.Literal("espeak"), T.Literal("piper")], {
              default: "espeak",
              description: "Text-to-speech engine; piper needs its ONNX voice installed.",
            }),
            voice: T.String({ minLength: 1, default: "en-us", description: "Text-to-speech voice." }),
          },
          { additionalProperties: false, default: {} },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    fedavg: T.Object(
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
          description:
            "Most devices in one round's cohort; the join window closes early once this many joined.",
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
          description:
            "With secure aggregation: how long survivors have to reveal the seeds of dropped devices.",
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
    ),
    store: T.Object(
      {
        busyTimeoutMs: T.Integer({
          minimum: 0,
          maximum: 60000,
          default: 5000,
          description: "How long a write waits for a lock held by another connection.",
        }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false, default: {} },
);

export type KianaConfigTree = Static<typeof ConfigSchema>;

/** The validated config plus where things live; frozen after load. */
export interface KianaConfig extends KianaConfigTree {
  /** Directory for the database, keys and models. */
  dataDir: string;
  /** The TOML file that was read, or null when none existed. */
  configFile: string | null;
}
