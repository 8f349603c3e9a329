// The non-network system files a seed decides, as pure text builders over the files already on
// the image: hostname and hosts, the node's /etc/kiana/kiana.toml, sudoers, the role's unit
// drop-in. Existing content the seed does not own (other hosts lines, other config) is kept.
import { Value } from "@sinclair/typebox/value";
import { parse as parseToml, stringify as stringifyToml } from "smol-toml";
import { ConfigSchema } from "../config/index.ts";
import { kianaError } from "../errors.ts";
import type { Seed } from "./schema.ts";

/** The node's config file, relative to the target root (config's DEVICE_CONFIG_FILE). */
export const NODE_CONFIG_PATH = "etc/kiana/kiana.toml";
export const SATELLITE_DROP_IN_PATH = "etc/systemd/system/kiana.service.d/satellite-audio.conf";

/** Same text as systemd/kiana.service.d/satellite-audio.conf (a test keeps them equal). */
export const SATELLITE_DROP_IN = `# Satellites (and hubs with a microphone or speaker) reach the sound card: ALSA devices only,
# through the audio group, never as root. \`kiana firstboot\` installs this drop-in for the
# satellite role as /etc/systemd/system/kiana.service.d/satellite-audio.conf.
[Service]
# PrivateDevices= would hide /dev/snd entirely; the device cgroup keeps everything else closed.
PrivateDevices=no
DevicePolicy=closed
DeviceAllow=char-alsa rw
SupplementaryGroups=audio
# PrivateUsers= would show the audio group as nobody inside the service, so drop it here.
PrivateUsers=no
`;

export function hostsFile(existing: string, name: string): string {
  // Debian's convention: the own name on 127.0.1.1, so it resolves without DNS or mDNS.
  const kept = existing.split("\n").filter((l) => l !== "" && !/^127\.0\.1\.1\s/.test(l));
  if (!kept.some((l) => /^127\.0\.0\.1\s/.test(l))) kept.unshift("127.0.0.1\tlocalhost");
  const at = kept.findIndex((l) => /^127\.0\.0\.1\s/.test(l)) + 1;
  kept.splice(at, 0, `127.0.1.1\t${name}`);
  return `${kept.join("\n")}\n`;
}

/**
 * The node's config with the seed's fields set over whatever the image shipped. A device listens on
 * the LAN; a hub's broker too. Checked against the config schema so the runtime will accept it.
 */
export function nodeConfigToml(existing: string, seed: Seed): string {
  let tree: Record<string, Record<string, unknown>>;
  try {
    tree = (existing.trim() ? parseToml(existing) : {}) as typeof tree;
  } catch (err) {
    throw kianaError(
      "FIRSTBOOT_FAILED",
      `/${NODE_CONFIG_PATH} on the image is not valid TOML: ${(err as Error).message}`,
      {},
      err,
    );
  }
  const section = (k: string) => {
    tree[k] = { ...(tree[k] ?? {}) };
    return tree[k];
  };
  Object.assign(section("node"), { name: seed.node.name, role: seed.node.role, fleet: seed.node.fleet });
  section("admin").host = "0.0.0.0";
  const mesh = section("mesh");
  if (seed.node.hubUrl) mesh.hubUrl = seed.node.hubUrl;
  else delete mesh.hubUrl;
  if (seed.node.role === "hub") section("broker").host = "0.0.0.0";
  for (const k of Object.keys(tree)) if (Object.keys(tree[k] ?? {}).length === 0) delete tree[k];
  const first = Value.Errors(ConfigSchema, Value.Default(ConfigSchema, structuredClone(tree))).First();
  if (first)
    throw kianaError(
      "FIRSTBOOT_FAILED",
      `/${NODE_CONFIG_PATH} would not be accepted by kiana run: ${first.path} ${first.message}`,
    );
  return `# kiana device config. node.* and the listen addresses were set by kiana firstboot.\n${stringifyToml(tree)}\n`;
}

export function sudoersFile(user: string): string {
  return `# Written by kiana firstboot: the seeded login user has no password, only SSH keys.\n${user} ALL=(ALL) NOPASSWD:ALL\n`;
}

export function authorizedKeys(keys: readonly string[]): string {
  return `${keys.join("\n")}\n`;
}
