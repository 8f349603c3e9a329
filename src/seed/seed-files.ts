// The seed's bytes on the boot partition: `renderSeedFiles` (provisioning writes them) and
// `parseSeedFiles` (firstboot reads them back). parse(render(seed)) equals seed; a hand-edited file
// that breaks a rule is refused naming the file and the field.
import { parse as parseToml } from "smol-toml";
import { type NetworkConfig, networkHasSecrets } from "./network.ts";
import {
  SEED_FILES,
  SEED_VERSION,
  type Seed,
  type SeedFileName,
  type SeedProblem,
  seedError,
  seedProblems,
} from "./schema.ts";
import { yamlText } from "./yaml-text.ts";

export interface SeedFile {
  /** Relative to the boot partition's root, e.g. "kiana.toml". */
  path: SeedFileName;
  bytes: Uint8Array;
  /** Holds a private key or a Wi-Fi password: firstboot wipes it from the card after applying. */
  secret: boolean;
}

const SUDO_ALL = "ALL=(ALL) NOPASSWD:ALL";
const utf8 = new TextEncoder();

/** A TOML string: multi-line literal for PEM and JSON text (readable on the card), else a basic string. */
function tomlString(s: string): string {
  const control = [...s].some((c) => {
    const n = c.charCodeAt(0);
    return (n < 0x20 && n !== 0x09 && n !== 0x0a) || n === 0x7f;
  });
  const plain = !control && !s.includes("'''") && !s.endsWith("'");
  if (plain && s.includes("\n")) return `'''\n${s}'''`;
  if (plain && !s.includes("'")) return `'${s}'`;
  return JSON.stringify(s).replace(/\x7f/g, "\\u007f");
}

function renderKianaToml(seed: Seed): string {
  const lines = [
    "# kiana first-boot seed, applied once by kiana-firstboot.service (`kiana firstboot`).",
    "# While it holds [keys] this file is SECRET; after first boot it is wiped from the card and",
    "# kiana-firstboot.done records what was applied.",
    `version = ${SEED_VERSION}`,
    "",
    "[node]",
    `name = ${tomlString(seed.node.name)}`,
    `role = ${tomlString(seed.node.role)}`,
    `fleet = ${tomlString(seed.node.fleet)}`,
    `hubUrl = ${tomlString(seed.node.hubUrl)}`,
  ];
  if (seed.admin) lines.push("", "[admin]", `passwordHash = ${tomlString(seed.admin.passwordHash)}`);
  if (seed.identity) {
    const id = seed.identity;
    lines.push("", "[enrolment]", `certificate = ${tomlString(id.certificate)}`);
    lines.push(`fleetInfo = ${tomlString(id.fleetInfo)}`, "", "[keys]");
    lines.push(`signingKey = ${tomlString(id.signingKey)}`, `agreementKey = ${tomlString(id.agreementKey)}`);
  }
  return `${lines.join("\n")}\n`;
}

function renderUserData(seed: Seed): string {
  const doc: Record<string, unknown> = { hostname: seed.node.name };
  if (seed.user) {
    const u: Record<string, unknown> = { name: seed.user.name, lock_passwd: true };
    if (seed.user.groups.length) u.groups = seed.user.groups;
    if (seed.user.sudo) u.sudo = SUDO_ALL;
    u.ssh_authorized_keys = seed.user.sshAuthorizedKeys;
    doc.users = [u];
  }
  return `#cloud-config\n# kiana seed: applied by \`kiana firstboot\`; cloud-init is not needed on the device.\n${yamlText(doc)}`;
}

/**
 * The seed as files for the boot partition. Validates first (throws SEED_INVALID naming file and
 * field). meta-data and user-data are always written; network-config only when `seed.network` is set.
 */
export function renderSeedFiles(seed: Seed): SeedFile[] {
  const problems = seedProblems(seed);
  if (problems.length) throw seedError(problems);
  const files: SeedFile[] = [
    {
      path: SEED_FILES.kiana,
      bytes: utf8.encode(renderKianaToml(seed)),
      secret: seed.identity !== undefined,
    },
    { path: SEED_FILES.userData, bytes: utf8.encode(renderUserData(seed)), secret: false },
    {
      path: SEED_FILES.metaData,
      bytes: utf8.encode(yamlText({ "instance-id": seed.instanceId, "local-hostname": seed.node.name })),
      secret: false,
    },
  ];
  if (seed.network) {
    const text = `# netplan v2 subset, applied by \`kiana firstboot\` as systemd-networkd files.\n${yamlText({ network: seed.network })}`;
    files.push({
      path: SEED_FILES.networkConfig,
      bytes: utf8.encode(text),
      secret: networkHasSecrets(seed.network),
    });
  }
  return files;
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

type Add = (field: string, problem: string) => void;

function allowOnly(obj: Record<string, unknown>, allowed: string[], at: string, add: Add): void {
  for (const k of Object.keys(obj))
    if (!allowed.includes(k))
      add(`${at}${k}`, `is not supported by kiana firstboot (supported: ${allowed.join(", ")})`);
}

function parseKianaToml(text: string, add: Add, seed: Partial<Seed>): void {
  let raw: Record<string, unknown>;
  try {
    raw = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    const e = err as Error & { line?: number; column?: number };
    add("(file)", `is not valid TOML at line ${e.line ?? "?"}, column ${e.column ?? "?"}`);
    return;
  }
  allowOnly(raw, ["version", "node", "admin", "enrolment", "keys"], "", add);
  if (raw.version !== SEED_VERSION) add("version", `must be ${SEED_VERSION}`);
  const table = (name: string) => {
    const t = raw[name];
    if (t !== undefined && !isObj(t)) add(name, "must be a table");
    return isObj(t) ? t : undefined;
  };
  const node = table("node");
  if (!node) add("node", "is missing ([node] with name, role, fleet)");
  else allowOnly(node, ["name", "role", "fleet", "hubUrl"], "node.", add);
  seed.node = { hubUrl: "", ...(node ?? {}) } as Seed["node"];
  const admin = table("admin");
  if (admin) {
    allowOnly(admin, ["passwordHash", "password"], "admin.", add);
    if ("password" in admin)
      add("admin.password", "must not be on the card: give admin.passwordHash (argon2id) instead");
    seed.admin = { passwordHash: admin.passwordHash as string };
  }
  const enrolment = table("enrolment");
  const keys = table("keys");
  if (enrolment) allowOnly(enrolment, ["certificate", "fleetInfo"], "enrolment.", add);
  if (keys) allowOnly(keys, ["signingKey", "agreementKey"], "keys.", add);
  if (enrolment && !keys) add("keys", "is missing: the certificate needs the node's keys");
  if (keys && !enrolment) add("enrolment", "is missing: the keys need the certificate and fleetInfo");
  if (enrolment && keys) seed.identity = { ...enrolment, ...keys } as NonNullable<Seed["identity"]>;
}

function parseUserData(text: string, add: Add, seed: Partial<Seed>): void {
  if (!text.startsWith("#cloud-config")) {
    add("(file)", 'must start with the line "#cloud-config"');
    return;
  }
  let doc: unknown;
  try {
    doc = Bun.YAML.parse(text) ?? {};
  } catch (err) {
    add("(file)", `is not valid YAML: ${(err as Error).message.split("\n")[0]}`);
    return;
  }
  if (!isObj(doc)) {
    add("(file)", "must be a YAML mapping");
    return;
  }
  allowOnly(doc, ["hostname", "users", "ssh_authorized_keys"], "", add);
  if (doc.hostname !== undefined && doc.hostname !== seed.node?.name)
    add(
      "hostname",
      `is ${JSON.stringify(doc.hostname)} but kiana.toml node.name is ${JSON.stringify(seed.node?.name)}`,
    );
  const users = doc.users ?? [];
  if (!Array.isArray(users)) {
    add("users", "must be a list");
    return;
  }
  if (users.length > 1) add("users.1", "only one user is supported");
  const topKeys = doc.ssh_authorized_keys;
  if (topKeys !== undefined && !Array.isArray(topKeys)) add("ssh_authorized_keys", "must be a list");
  const u = users[0];
  if (u === undefined) {
    if (Array.isArray(topKeys) && topKeys.length)
      add("ssh_authorized_keys", "needs a user in users to belong to");
    return;
  }
  if (!isObj(u)) {
    add("users.0", "must be a mapping with name (kiana images have no default user)");
    return;
  }
  allowOnly(u, ["name", "groups", "sudo", "lock_passwd", "ssh_authorized_keys"], "users.0.", add);
  if (u.lock_passwd !== undefined && u.lock_passwd !== true)
    add("users.0.lock_passwd", "must be true: log in with SSH keys");
  if (u.sudo !== undefined && u.sudo !== SUDO_ALL && u.sudo !== false)
    add("users.0.sudo", `must be "${SUDO_ALL}" or absent`);
  const groups = typeof u.groups === "string" ? u.groups.split(",").map((g) => g.trim()) : (u.groups ?? []);
  const own = u.ssh_authorized_keys ?? [];
  seed.user = {
    name: u.name as string,
    groups: groups as string[],
    // cloud-init adds top-level keys to the default user; here that is the one user.
    sshAuthorizedKeys: Array.isArray(own)
      ? [...own, ...(Array.isArray(topKeys) ? topKeys : [])]
      : (own as string[]),
    ...(u.sudo === SUDO_ALL ? { sudo: true } : {}),
  };
}

function parseYamlMapping(text: string, add: Add): Record<string, unknown> | undefined {
  try {
    const doc = Bun.YAML.parse(text) ?? {};
    if (isObj(doc)) return doc;
    add("(file)", "must be a YAML mapping");
  } catch (err) {
    add("(file)", `is not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  return undefined;
}

/**
 * Reads the seed back from its files (other names are ignored), checks every rule and every
 * cross-file agreement (hostname, local-hostname), and throws SEED_INVALID naming file and field.
 */
export function parseSeedFiles(files: readonly { path: string; bytes: Uint8Array }[]): Seed {
  const problems: SeedProblem[] = [];
  const at =
    (file: SeedFileName): Add =>
    (field, problem) =>
      problems.push({ file, field, problem });
  const text = (name: SeedFileName): string | undefined => {
    const f = files.find((x) => x.path === name);
    if (!f) return undefined;
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(f.bytes);
    } catch {
      at(name)("(file)", "is not UTF-8 text");
      return undefined;
    }
  };
  const seed: Partial<Seed> = {};
  const kianaText = text(SEED_FILES.kiana);
  if (kianaText === undefined) at(SEED_FILES.kiana)("(file)", "is missing");
  else parseKianaToml(kianaText, at(SEED_FILES.kiana), seed);
  const userText = text(SEED_FILES.userData);
  if (userText !== undefined) parseUserData(userText, at(SEED_FILES.userData), seed);
  const metaText = text(SEED_FILES.metaData);
  const meta = metaText === undefined ? {} : parseYamlMapping(metaText, at(SEED_FILES.metaData));
  if (meta) {
    allowOnly(meta, ["instance-id", "local-hostname"], "", at(SEED_FILES.metaData));
    const local = meta["local-hostname"];
    if (local !== undefined && local !== seed.node?.name)
      at(SEED_FILES.metaData)(
        "local-hostname",
        `is ${JSON.stringify(local)} but kiana.toml node.name is ${JSON.stringify(seed.node?.name)}`,
      );
    // Without meta-data (a hand-made card) the node name stands in for the instance.
    seed.instanceId = (meta["instance-id"] as string | undefined) ?? `kiana-${seed.node?.name ?? "node"}`;
  }
  const netText = text(SEED_FILES.networkConfig);
  if (netText !== undefined) {
    const doc = parseYamlMapping(netText, at(SEED_FILES.networkConfig));
    // cloud-init accepts the netplan tree bare or under `network:`.
    if (doc)
      seed.network = (isObj(doc.network) && Object.keys(doc).length === 1
        ? doc.network
        : doc) as unknown as NetworkConfig;
  }
  // Field rules run once the files' shapes are readable, so a broken file is not also reported as
  // a dozen missing fields.
  if (seed.node && !problems.some((p) => p.field === "(file)")) problems.push(...seedProblems(seed as Seed));
  if (problems.length) throw seedError(problems);
  return seed as Seed;
}
