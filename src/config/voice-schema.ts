// The `voice` section of the config tree: the satellite's audio and wake words, the hub's speech engines.
import { Type as T } from "@sinclair/typebox";
import { Port } from "./schema-types.ts";

/** A word list the speech grammar offers; unset keeps the built-in list. */
const WordList = (description: string) =>
  T.Optional(T.Array(T.String({ minLength: 1, maxLength: 40 }), { maxItems: 200, description }));

export const VoiceSchema = T.Object(
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
        devices: T.Array(
          T.Object(
            {
              name: T.String({
                minLength: 1,
                maxLength: 60,
                description: 'What people call it: "kitchen light".',
              }),
              id: T.String({
                pattern: "^[a-z0-9][a-z0-9_-]{0,62}$",
                description: "Topic level of its commands: kiana/v1/<fleet>/<node>/device/<id>/set.",
              }),
              aliases: T.Array(T.String({ minLength: 1, maxLength: 60 }), { default: [], maxItems: 8 }),
              node: T.Optional(
                T.String({
                  pattern: "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$",
                  description: "Node that owns it; default: this hub.",
                }),
              ),
            },
            { additionalProperties: false },
          ),
          { default: [], maxItems: 100, description: 'Devices "turn on/off ..." switches, by MQTT command.' },
        ),
        speechWords: T.Object(
          {
            owners: WordList("Said before a thing: my, the."),
            items: WordList("Things a spoken fact can be about: keys, passport."),
            relations: WordList("in, on, next to ..."),
            qualifiers: WordList("Words narrowing a place: top, kitchen."),
            places: WordList("drawer, shelf ..."),
            timerNames: WordList("Names a spoken timer may have: pasta."),
          },
          {
            additionalProperties: false,
            default: {},
            description:
              "Word lists the speech grammar offers for facts and timer names; unset lists keep the built-in ones.",
          },
        ),
        llmModel: T.String({
          default: "",
          maxLength: 64,
          description:
            "Model (its registry name) asked when no intent matches, through this node's /v1 API (a peer may answer); empty: no fallback.",
        }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false, default: {} },
);
