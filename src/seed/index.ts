// The seed capability: the first-boot seed on a card's boot partition (schema, files, validation)
// and applying it once at first boot. Provisioning imports this to write seeds; firstboot to read them.
export type { NetworkConfig, NetworkInterface, WifiInterface } from "./network.ts";
export {
  formatSeedProblem,
  hashAdminPassword,
  SEED_FILES,
  SEED_ROLES,
  SEED_VERSION,
  type Seed,
  type SeedFileName,
  type SeedProblem,
  seedError,
  seedProblems,
  validateSeed,
} from "./schema.ts";
export { parseSeedFiles, renderSeedFiles, type SeedFile } from "./seed-files.ts";
