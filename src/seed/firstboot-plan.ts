// What firstboot will write, decided before anything is written: the checks that need the device
// (certificate validity now, the image's groups) and every target file with its mode and owner.
import { join } from "node:path";
import { kianaError } from "../errors.ts";
import { decodeCertificate, decodeFleetInfo, verifyCertificate } from "../identity/index.ts";
import { networkdFiles } from "./networkd.ts";
import { SEED_FILES, type Seed, seedError } from "./schema.ts";
import { groupExists, lookupUser, readOr, type StagedFile } from "./staged-files.ts";
import * as sys from "./system-files.ts";

/** The runtime's system user (systemd/sysusers.d/kiana.conf). */
export const SERVICE_USER = "kiana";

/** Checks that need the device: the certificate's validity now, the image's groups and config. */
export function preflight(seed: Seed, root: string, now: number): void {
  const problems: Parameters<typeof seedError>[0] = [];
  if (seed.identity) {
    const cert = decodeCertificate(seed.identity.certificate);
    const fleet = decodeFleetInfo(seed.identity.fleetInfo);
    // A Pi has no clock before NTP: a clock behind issuedAt is the board's, not the certificate's fault.
    const verdict = verifyCertificate(cert, {
      fleetPublicKey: fleet.publicKey,
      fleetId: fleet.fleetId,
      now: Math.max(now, cert.issuedAt),
    });
    if (!verdict.ok)
      problems.push({
        file: SEED_FILES.kiana,
        field: "enrolment.certificate",
        problem: `is not valid: ${verdict.reason} (${verdict.detail})`,
      });
  }
  for (const [i, g] of (seed.user?.groups ?? []).entries())
    if (!groupExists(root, g))
      problems.push({
        file: SEED_FILES.userData,
        field: `users.0.groups.${i}`,
        problem: `"${g}" does not exist on this image`,
      });
  if (problems.length) throw seedError(problems);
}

/** Every file the seed decides, as absolute paths with modes and owners. */
export function plan(seed: Seed, root: string, dataDir: string): StagedFile[] {
  const at = (rel: string) => join(root, rel);
  const service = lookupUser(root, SERVICE_USER);
  const files: StagedFile[] = [
    { path: at("etc/hostname"), text: `${seed.node.name}\n`, mode: 0o644 },
    { path: at("etc/hosts"), text: sys.hostsFile(readOr(at("etc/hosts"), ""), seed.node.name), mode: 0o644 },
    // 0640 root:kiana where the image has the user: the config may hold tokens and bridge passwords.
    {
      path: at(sys.NODE_CONFIG_PATH),
      text: sys.nodeConfigToml(readOr(at(sys.NODE_CONFIG_PATH), ""), seed),
      mode: service ? 0o640 : 0o644,
      owner: service ? { uid: 0, gid: service.gid } : undefined,
    },
    ...networkdFiles(seed.network).map((f) => ({ ...f, path: at(f.path) })),
  ];
  if (seed.node.role === "satellite")
    files.push({ path: at(sys.SATELLITE_DROP_IN_PATH), text: sys.SATELLITE_DROP_IN, mode: 0o644 });
  if (seed.user) {
    const u = lookupUser(root, seed.user.name);
    if (!u) throw kianaError("FIRSTBOOT_FAILED", `user ${seed.user.name} was not created`);
    const owner = { uid: u.uid, gid: u.gid };
    files.push({
      path: join(root, u.home, ".ssh", "authorized_keys"),
      text: sys.authorizedKeys(seed.user.sshAuthorizedKeys),
      mode: 0o600,
      owner,
      dirOwner: owner,
      dirMode: 0o700,
    });
    if (seed.user.sudo)
      files.push({
        path: at(`etc/sudoers.d/90-kiana-${seed.user.name}`),
        text: sys.sudoersFile(seed.user.name),
        mode: 0o440,
      });
  }
  if (seed.identity) {
    const owner = service ? { uid: service.uid, gid: service.gid } : undefined;
    const secret = (rel: string, text: string): StagedFile => ({
      path: join(dataDir, rel),
      text,
      mode: 0o600,
      owner,
      dirOwner: owner,
      dirMode: 0o700,
    });
    // The same layout `kiana fleet join` and node-keys use, so loadMembership/loadNodeKeys read it.
    files.push(
      secret("keys/signing.pem", seed.identity.signingKey),
      secret("keys/agreement.pem", seed.identity.agreementKey),
      secret("fleet/fleet.json", seed.identity.fleetInfo),
      secret("fleet/certificate.json", seed.identity.certificate),
    );
  }
  return files;
}
