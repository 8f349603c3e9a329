// The first-boot seed: what the provisioning script writes onto a card's boot (FAT) partition and
// what `kiana firstboot` applies once. This module holds the types and their validation (pure).
import { createPrivateKey } from "node:crypto";
import { kianaError } from "../errors.ts";
import { decodeCertificate, decodeFleetInfo, type Role, verifyCertificate } from "../identity/index.ts";
import { rawPublicKey } from "../identity/node-keys.ts";
import { type NetworkConfig, networkProblems } from "./network.ts";

/** The seed files, relative to the boot partition's root (cloud-init NoCloud names + ours). */
export const SEED_FILES = {
  /** Ours: node, admin hash, enrolment and the node's private keys (secret). */
  kiana: "kiana.toml",
  /** cloud-init `#cloud-config` subset: hostname, one login user, its SSH keys. */
  userData: "user-data",
  /** netplan v2 subset: ethernets and wifis, DHCP or static (secret when it holds a Wi-Fi password). */
  networkConfig: "network-config",
  /** instance-id and local-hostname. */
  metaData: "meta-data",
} as const;
export type SeedFileName = (typeof SEED_FILES)[keyof typeof SEED_FILES];

export const SEED_VERSION = 1;
export const SEED_ROLES: readonly Role[] = ["hub", "node", "satellite"];

/** Everything a device needs at first boot. Build one, `validateSeed` it, `renderSeedFiles` it. */
export interface Seed {
  /** meta-data `instance-id`: names this provisioning run; 1-64 of A-Z a-z 0-9 . _ - */
  instanceId: string;
  /** Goes to /etc/kiana/kiana.toml (config `node.*`, `mesh.hubUrl`) and the hostname. */
  node: {
    /** DNS label; also the hostname, the certificate's name and the mDNS name. */
    name: string;
    role: Role;
    /** Fleet id (DNS label); must equal the fleet of `identity` when one is given. */
    fleet: string;
    /** The hub's admin URL (http://host:port); "" finds the hub over mDNS. */
    hubUrl: string;
  };
  /** Absent: the admin page asks for the one-time setup code as on an unprovisioned device. */
  admin?: {
    /** argon2id PHC string as `Bun.password.hash` makes it (see `hashAdminPassword`); never the password. */
    passwordHash: string;
  };
  /** Absent: the device starts unenrolled (discovery only) and is adopted later. */
  identity?: {
    /** The enrolment certificate in its text form (`encodeCertificate`). */
    certificate: string;
    /** The fleet's public facts (`encodeFleetInfo`, i.e. fleet.json). */
    fleetInfo: string;
    /** SECRET: the node's Ed25519 signing key, PKCS#8 PEM (becomes <data>/keys/signing.pem). */
    signingKey: string;
    /** SECRET: the node's X25519 agreement key, PKCS#8 PEM (becomes <data>/keys/agreement.pem). */
    agreementKey: string;
  };
  /** One login user for SSH (cloud-init `users[0]`); absent: no login user is created. */
  user?: {
    name: string;
    /** OpenSSH public key lines (`ssh-ed25519 AAAA… comment`). */
    sshAuthorizedKeys: string[];
    /** Supplementary groups, e.g. ["adm"]. */
    groups: string[];
    /** true: passwordless sudo (the user has no password; it logs in with its SSH keys). */
    sudo?: boolean;
  };
  /** netplan v2 subset; absent: the image's default (DHCP on wired interfaces). */
  network?: NetworkConfig;
}

/** One thing wrong with a seed, located the way a person looks for it: file, then field. */
export interface SeedProblem {
  file: SeedFileName;
  /** Dotted path inside that file, e.g. `node.name` or `wifis.wlan0.access-points`. */
  field: string;
  problem: string;
}

export const formatSeedProblem = (p: SeedProblem) => `${p.file}: ${p.field} ${p.problem}`;

/** The SEED_INVALID error for a list of problems; the message leads with the first. */
export function seedError(problems: SeedProblem[], cause?: unknown) {
  const [first, ...more] = problems;
  const head = first ? formatSeedProblem(first) : "the seed is invalid";
  const tail = more.length ? `; and ${more.length} more: ${more.map(formatSeedProblem).join("; ")}` : "";
  return kianaError("SEED_INVALID", `seed ${head}${tail}`, { problems, ...first }, cause);
}

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const INSTANCE_ID = /^[A-Za-z0-9._-]{1,64}$/;
const ARGON2ID = /^\$argon2id\$v=19\$m=\d{1,8},t=\d{1,4},p=\d{1,3}\$[A-Za-z0-9+/]{16,}\$[A-Za-z0-9+/]{16,}$/;
const UNIX_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;
const SSH_KEY =
  /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,2}( [^\r\n]*)?$/;
const HUB_URL = /^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?\/?$/;
/** The service user and accounts the image owns; a seed must not take them over. */
const RESERVED_USERS = new Set(["root", "kiana", "daemon", "bin", "sys", "nobody", "mosquitto"]);

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function identityProblems(seed: Seed, add: (field: string, problem: string) => void): void {
  const id = seed.identity;
  if (!id) return;
  let cert: ReturnType<typeof decodeCertificate> | undefined;
  let fleet: ReturnType<typeof decodeFleetInfo> | undefined;
  try {
    cert = decodeCertificate(String(id.certificate));
  } catch (err) {
    add("enrolment.certificate", `is not a certificate: ${(err as Error).message}`);
  }
  try {
    fleet = decodeFleetInfo(String(id.fleetInfo));
  } catch (err) {
    add("enrolment.fleetInfo", `is not a fleet.json: ${(err as Error).message}`);
  }
  const keys: Record<string, Uint8Array | undefined> = {};
  for (const [field, kind] of [
    ["signingKey", "ed25519"],
    ["agreementKey", "x25519"],
  ] as const) {
    try {
      const key = createPrivateKey(String(id[field]));
      if (key.asymmetricKeyType !== kind)
        add(`keys.${field}`, `must be an ${kind} key, not ${key.asymmetricKeyType}`);
      else keys[field] = rawPublicKey(key);
    } catch {
      add(`keys.${field}`, `must be an ${kind} private key in PKCS#8 PEM`);
    }
  }
  if (fleet && fleet.fleetId !== seed.node.fleet)
    add("enrolment.fleetInfo", `is for fleet "${fleet.fleetId}" but node.fleet is "${seed.node.fleet}"`);
  if (!cert) return;
  if (cert.name !== seed.node.name)
    add("enrolment.certificate", `was issued to "${cert.name}" but node.name is "${seed.node.name}"`);
  if (cert.role !== seed.node.role)
    add("enrolment.certificate", `was issued for role ${cert.role} but node.role is ${seed.node.role}`);
  const same = (a?: Uint8Array, b?: Uint8Array) => !!a && !!b && Buffer.from(a).equals(Buffer.from(b));
  if (keys.signingKey && !same(keys.signingKey, cert.signingKey))
    add("keys.signingKey", "does not belong to the certificate (another device's key?)");
  if (keys.agreementKey && !same(keys.agreementKey, cert.agreementKey))
    add("keys.agreementKey", "does not belong to the certificate (another device's key?)");
  if (fleet) {
    // Time is checked at first boot, not here: a Pi has no clock before NTP. The signature is timeless.
    const verdict = verifyCertificate(cert, { fleetPublicKey: fleet.publicKey, now: cert.issuedAt });
    if (!verdict.ok && (verdict.reason === "bad-signature" || verdict.reason === "malformed"))
      add("enrolment.certificate", `is not signed by the fleet in enrolment.fleetInfo (${verdict.detail})`);
    if (cert.fleetId !== fleet.fleetId)
      add("enrolment.certificate", `belongs to fleet "${cert.fleetId}", not "${fleet.fleetId}"`);
  }
}

/** Every problem with a seed object (empty when it is good). Pure apart from key parsing. */
export function seedProblems(seed: Seed): SeedProblem[] {
  const out: SeedProblem[] = [];
  const at = (file: SeedFileName) => (field: string, problem: string) => out.push({ file, field, problem });
  const kiana = at(SEED_FILES.kiana);
  if (!isObj(seed)) return [{ file: SEED_FILES.kiana, field: "(root)", problem: "must be a table" }];
  if (typeof seed.instanceId !== "string" || !INSTANCE_ID.test(seed.instanceId))
    at(SEED_FILES.metaData)("instance-id", "must be 1-64 of A-Z a-z 0-9 . _ -");
  const node = isObj(seed.node) ? seed.node : ({} as Seed["node"]);
  if (!isObj(seed.node)) kiana("node", "is missing");
  else {
    if (typeof node.name !== "string" || !DNS_LABEL.test(node.name))
      kiana("node.name", `${JSON.stringify(node.name)} must be a DNS label: a-z, 0-9 and dashes, at most 63`);
    if (!SEED_ROLES.includes(node.role)) kiana("node.role", `must be one of ${SEED_ROLES.join(", ")}`);
    if (typeof node.fleet !== "string" || !DNS_LABEL.test(node.fleet))
      kiana("node.fleet", `${JSON.stringify(node.fleet)} must be a DNS label`);
    if (typeof node.hubUrl !== "string" || (node.hubUrl !== "" && !HUB_URL.test(node.hubUrl)))
      kiana("node.hubUrl", 'must be "" (find the hub over mDNS) or http://host:port');
  }
  if (seed.admin !== undefined) {
    const hash = isObj(seed.admin) ? seed.admin.passwordHash : undefined;
    if (typeof hash !== "string" || !ARGON2ID.test(hash))
      kiana(
        "admin.passwordHash",
        "must be an argon2id hash ($argon2id$v=19$m=…,t=…,p=…$salt$hash), never the password itself",
      );
  }
  if (seed.identity !== undefined) {
    if (!isObj(seed.identity)) kiana("enrolment", "must be a table");
    else identityProblems(seed, kiana);
  }
  if (seed.user !== undefined) userProblems(seed.user, at(SEED_FILES.userData));
  if (seed.network !== undefined)
    for (const p of networkProblems(seed.network)) at(SEED_FILES.networkConfig)(p.field, p.problem);
  return out;
}

function userProblems(user: Seed["user"], add: (field: string, problem: string) => void): void {
  if (!isObj(user)) {
    add("users", "must hold one user");
    return;
  }
  if (typeof user.name !== "string" || !UNIX_NAME.test(user.name))
    add("users.0.name", "must be a login name: a-z, 0-9, _ and -, at most 32, starting with a letter or _");
  else if (RESERVED_USERS.has(user.name)) add("users.0.name", `"${user.name}" is reserved for the system`);
  if (!Array.isArray(user.sshAuthorizedKeys)) add("users.0.ssh_authorized_keys", "must be a list");
  else
    user.sshAuthorizedKeys.forEach((k, i) => {
      if (typeof k !== "string" || !SSH_KEY.test(k))
        add(
          `users.0.ssh_authorized_keys.${i}`,
          "must be one OpenSSH public key line (ssh-ed25519 AAAA… comment)",
        );
    });
  if (user.sudo !== undefined && typeof user.sudo !== "boolean") add("users.0.sudo", "must be true or false");
  if (!Array.isArray(user.groups)) add("users.0.groups", "must be a list");
  else
    user.groups.forEach((g, i) => {
      if (typeof g !== "string" || !UNIX_NAME.test(g)) add(`users.0.groups.${i}`, "must be a group name");
    });
}

/** Throws SEED_INVALID naming the file and field of every problem; returns the seed when good. */
export function validateSeed(seed: Seed): Seed {
  const problems = seedProblems(seed);
  if (problems.length) throw seedError(problems);
  return seed;
}

/** The argon2id hash to put in `admin.passwordHash` (the same algorithm the admin accounts use). */
export async function hashAdminPassword(password: string, minLength = 10): Promise<string> {
  if (password.length < minLength)
    throw kianaError("SEED_INVALID", `the admin password must have at least ${minLength} characters`);
  return Bun.password.hash(password, { algorithm: "argon2id" });
}
