// Which Debian packages this device's role needs, and which of their programs are missing from PATH.
import { accessSync, constants } from "node:fs";
import { join } from "node:path";

export type Role = "hub" | "node" | "satellite";

export interface SystemPackage {
  /** Debian package name, as apt-get install takes it. */
  pkg: string;
  /** A program the package installs, looked up on PATH. */
  command: string;
  roles: readonly Role[];
  purpose: string;
}

export const SYSTEM_PACKAGES: readonly SystemPackage[] = [
  { pkg: "mosquitto", command: "mosquitto", roles: ["hub"], purpose: "MQTT broker for the fleet" },
  { pkg: "espeak-ng", command: "espeak-ng", roles: ["hub"], purpose: "text-to-speech" },
  { pkg: "pocketsphinx", command: "pocketsphinx", roles: ["hub"], purpose: "speech-to-text" },
  { pkg: "sox", command: "sox", roles: ["hub", "satellite"], purpose: "audio conversion" },
  { pkg: "alsa-utils", command: "arecord", roles: ["satellite"], purpose: "microphone and speaker" },
  {
    pkg: "avahi-utils",
    command: "avahi-browse",
    roles: ["hub", "node", "satellite"],
    purpose: "mDNS diagnostics",
  },
];

export function findOnPath(command: string, path = process.env.PATH ?? ""): string | null {
  for (const dir of path.split(":")) {
    if (!dir) continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return null;
}

export function missingSystemPackages(role: Role, path?: string): SystemPackage[] {
  return SYSTEM_PACKAGES.filter((p) => p.roles.includes(role) && findOnPath(p.command, path) === null);
}
