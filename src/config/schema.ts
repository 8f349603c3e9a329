// The config tree: one typed schema with a description and a default for every field.
// Sources (TOML file, KIANA_* environment, flags) are merged over these defaults in load.ts.
import { type Static, Type as T } from "@sinclair/typebox";
import { FedavgSchema } from "./fedavg-schema.ts";
import { Port } from "./schema-types.ts";
import { VoiceSchema } from "./voice-schema.ts";

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
    voice: VoiceSchema,
    fedavg: FedavgSchema,
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
