// The config capability: one typed, frozen tree, validated once at start.
export {
  CONFIG_EXIT_CODE,
  DEVICE_CONFIG_FILE,
  envNameFor,
  type LoadConfigOptions,
  loadConfig,
} from "./load.ts";
export { ConfigSchema, type KianaConfig } from "./schema.ts";
