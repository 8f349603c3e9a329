// Turns an inventory row into the seed (src/seed) a device reads at first boot, and checks every
// row's seed before anything is written, reporting problems by inventory line.

import { MIN_PASSWORD_LENGTH } from "../src/admin/accounts.ts";
import type { Seed } from "../src/seed/index.ts";
import { formatSeedProblem, hashAdminPassword, seedProblems } from "../src/seed/index.ts";
import type { DeviceIdentity } from "./device-identity.ts";
import { provisionError } from "./errors.ts";
import type { DeviceSpec } from "./inventory.ts";

type NetworkConfig = NonNullable<Seed["network"]>;

/**
 * The netplan subset for a row. Wired links (`e*`) use DHCP unless the row is static; with Wi-Fi
 * the static address belongs to the Wi-Fi link (a Pi Zero has no other) and wired stays optional.
 */
export function networkFor(d: DeviceSpec): NetworkConfig | undefined {
  const net = d.network;
  const ip =
    net.mode === "static"
      ? {
          addresses: [`${net.address}/${net.prefix}`],
          ...(net.gateway ? { routes: [{ to: "default", via: net.gateway }] } : {}),
          ...(net.dns.length ? { nameservers: { addresses: net.dns } } : {}),
        }
      : { dhcp4: true };
  if (!d.wifi)
    return net.mode === "static"
      ? { version: 2, ethernets: { lan: { match: { name: "e*" }, ...ip } } }
      : undefined;
  const ap = d.wifi.psk ? { password: d.wifi.psk } : {};
  return {
    version: 2,
    // optional: boot must not wait for a cable that a Wi-Fi device usually lacks.
    ethernets: { lan: { match: { name: "e*" }, dhcp4: true, optional: true } },
    wifis: {
      wlan0: {
        ...ip,
        "access-points": { [d.wifi.ssid]: ap },
        ...(d.wifi.country ? { "regulatory-domain": d.wifi.country } : {}),
      },
    },
  };
}

export interface SeedDraft {
  device: DeviceSpec;
  /** The seed without its identity, which is made only when this device is written. */
  seed: Seed;
}

function draftSeed(d: DeviceSpec, fleetId: string, passwordHash: string | undefined, now: number): Seed {
  return {
    // cloud-init runs its per-instance steps again only when this changes: one per provisioning.
    instanceId: `${d.name.slice(0, 48)}-${now.toString(36)}`,
    node: { name: d.name, role: d.role, fleet: fleetId, hubUrl: d.hubUrl ?? "" },
    ...(passwordHash ? { admin: { passwordHash } } : {}),
    ...(d.ssh ? { user: { name: d.ssh.user, sshAuthorizedKeys: d.ssh.keys, groups: ["sudo"] } } : {}),
    ...(networkFor(d) ? { network: networkFor(d) } : {}),
  };
}

/**
 * Hashes admin passwords (argon2id, as the admin accounts do, so no plaintext reaches a card) and
 * checks every row's seed. Throws PROVISION_INVENTORY_INVALID with `<label> line N: …` per problem.
 */
export async function draftSeeds(
  devices: readonly DeviceSpec[],
  opts: { fleetId: string; label: string; now: number },
): Promise<SeedDraft[]> {
  const drafts: SeedDraft[] = [];
  const problems: string[] = [];
  for (const d of devices) {
    const hash = d.admin
      ? "hash" in d.admin
        ? d.admin.hash
        : await hashAdminPassword(d.admin.password, MIN_PASSWORD_LENGTH)
      : undefined;
    const seed = draftSeed(d, opts.fleetId, hash, opts.now);
    for (const p of seedProblems(seed))
      problems.push(`${opts.label} line ${d.line}: seed ${formatSeedProblem(p)}`);
    drafts.push({ device: d, seed });
  }
  if (problems.length > 0) throw provisionError("PROVISION_INVENTORY_INVALID", problems.join("\n"));
  return drafts;
}

/** The full seed for one device once its identity exists. */
export const withIdentity = (draft: SeedDraft, identity: DeviceIdentity): Seed => ({
  ...draft.seed,
  identity: identity.seed,
});
