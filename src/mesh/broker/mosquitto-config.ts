// The hub's mosquitto.conf and ACL file as pure text builders. Every value is checked before it is
// written, because a newline or space in a name would let a caller add its own config lines.
import { kianaError } from "../../errors.ts";
import { fleetPattern, nodeTopic } from "../topics.ts";
import { checkUsername } from "./password-file.ts";

export type BridgeDirection = "both" | "in" | "out";

export interface BridgeOptions {
  /** Connection name, also part of the bridge's client id. */
  name: string;
  /** `host:port` of the upstream broker (EMQX or another mosquitto). */
  address: string;
  username: string;
  password: string;
  /** Only `kiana/v1/<fleet>/#` crosses the bridge. */
  fleet: string;
  direction?: BridgeDirection;
  /** CA bundle for TLS to the upstream; leave out only on a trusted network (tests on loopback). */
  cafile?: string;
  /** Loop detection between mosquitto brokers; turn off for brokers that do not support it. */
  tryPrivate?: boolean;
}

export interface MosquittoConfigOptions {
  listener: { host: string; port: number };
  /** Where mosquitto keeps its persistence database. */
  dataDir: string;
  passwordFile: string;
  aclFile: string;
  /** Keep retained messages and QoS 1 queues across broker restarts. */
  persistence: boolean;
  bridge?: BridgeOptions;
  /** mosquitto drops root to this user; tests running as root pass "root" so it can read its temp files. */
  runAsUser?: string;
}

export type DeviceRole = "hub" | "node" | "satellite";

export interface AclOptions {
  fleet: string;
  devices: readonly { username: string; node: string; role: DeviceRole }[];
  /** The hub's own client and bridge links: read and write anywhere in the fleet's tree. */
  hubUsers: readonly string[];
}

function invalid(message: string, details: Record<string, unknown>): never {
  throw kianaError("BROKER_CONFIG_INVALID", message, details);
}

/** Absolute paths without whitespace or control characters: mosquitto reads each value to the end of the line. */
function checkPath(name: string, value: string): string {
  if (typeof value !== "string" || !/^\/[^\s\p{Cc}]*$/u.test(value)) {
    invalid(`${name} must be an absolute path without spaces or control characters`, { [name]: value });
  }
  return value;
}

function checkHost(name: string, value: string): string {
  if (typeof value !== "string" || !/^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$/.test(value)) {
    invalid(`${name} ${JSON.stringify(value)} is not an IPv4 address or host name`, { [name]: value });
  }
  return value;
}

function checkPort(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1 || value > 65535) {
    invalid(`${name} ${value} is not a TCP port (1-65535)`, { [name]: value });
  }
  return value;
}

/** Topic levels go through the same check as the topic tree itself; its error becomes a config error. */
function fleetPrefix(fleet: string): string {
  try {
    return fleetPattern(fleet, "#");
  } catch (err) {
    return invalid(`fleet ${JSON.stringify(fleet)} is not a valid topic level`, {
      fleet,
      error: String(err),
    });
  }
}

function nodePrefix(fleet: string, node: string): string {
  try {
    return `${nodeTopic(fleet, node)}/#`;
  } catch (err) {
    return invalid(`node ${JSON.stringify(node)} is not a valid topic level`, { node, error: String(err) });
  }
}

function bridgeLines(b: BridgeOptions): string[] {
  if (typeof b.name !== "string" || !/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(b.name)) {
    invalid(`bridge name ${JSON.stringify(b.name)} must be letters, digits, '_' or '-'`, { name: b.name });
  }
  const m = /^([^:\s]+):(\d{1,5})$/.exec(typeof b.address === "string" ? b.address : "");
  if (!m) invalid(`bridge address ${JSON.stringify(b.address)} must be host:port`, { address: b.address });
  checkHost("bridge host", m[1] ?? "");
  checkPort("bridge port", Number(m[2]));
  checkUsername(b.username);
  if (typeof b.password !== "string" || !/^[\x21-\x7e]{1,256}$/.test(b.password)) {
    invalid("bridge password must be 1-256 printable ASCII characters without spaces", { name: b.name });
  }
  const direction = b.direction ?? "both";
  if (!["both", "in", "out"].includes(direction)) {
    invalid(`bridge direction ${JSON.stringify(direction)} must be both, in or out`, { direction });
  }
  const prefix = fleetPrefix(b.fleet);
  const lines = [
    `# Bridge to the upstream cluster: only the fleet's own tree crosses it.`,
    `connection ${b.name}`,
    `address ${b.address}`,
    `remote_clientid kiana-bridge-${b.fleet}-${b.name}`,
    `remote_username ${b.username}`,
    `remote_password ${b.password}`,
    // A persistent session upstream keeps QoS 1 messages for this site while its link is down.
    "cleansession false",
    "bridge_protocol_version mqttv311",
    `try_private ${b.tryPrivate === false ? "false" : "true"}`,
    "restart_timeout 2 30",
    "notifications true",
    "notifications_local_only true",
    `topic ${prefix} ${direction} 1`,
  ];
  if (b.cafile !== undefined) lines.push(`bridge_cafile ${checkPath("bridge cafile", b.cafile)}`);
  return lines;
}

/** The whole mosquitto.conf. */
export function mosquittoConfig(opts: MosquittoConfigOptions): string {
  const host = checkHost("listener host", opts.listener.host);
  const port = checkPort("listener port", opts.listener.port);
  const dataDir = checkPath("dataDir", opts.dataDir);
  const lines = [
    "# Written by kiana; edits are overwritten. Regenerate with the hub's broker settings instead.",
    "per_listener_settings false",
    "allow_anonymous false",
    `password_file ${checkPath("passwordFile", opts.passwordFile)}`,
    `acl_file ${checkPath("aclFile", opts.aclFile)}`,
    `listener ${port} ${host}`,
    `persistence ${opts.persistence ? "true" : "false"}`,
    `persistence_location ${dataDir.endsWith("/") ? dataDir : `${dataDir}/`}`,
    // stderr reaches kiana's logger (child process) or the journal (system service).
    "log_dest stderr",
    "log_type error",
    "log_type warning",
    "log_type notice",
    "log_type information",
    "connection_messages true",
  ];
  if (opts.runAsUser !== undefined) lines.push(`user ${checkUsername(opts.runAsUser)}`);
  if (opts.bridge) lines.push("", ...bridgeLines(opts.bridge));
  return `${lines.join("\n")}\n`;
}

/** The ACL: devices publish only under their own node's tree and read the whole fleet. */
export function aclFile(opts: AclOptions): string {
  const fleetTree = fleetPrefix(opts.fleet);
  const seen = new Set<string>();
  const claim = (username: string) => {
    checkUsername(username);
    if (seen.has(username)) invalid(`MQTT user ${username} appears twice in the ACL`, { username });
    seen.add(username);
  };
  const lines = [`# Written by kiana for fleet ${opts.fleet}; edits are overwritten.`, ""];
  for (const user of opts.hubUsers) {
    claim(user);
    lines.push(`user ${user}`, `topic readwrite ${fleetTree}`, "topic read $SYS/broker/connection/#", "");
  }
  for (const d of opts.devices) {
    claim(d.username);
    if (!["hub", "node", "satellite"].includes(d.role)) {
      invalid(`device role ${JSON.stringify(d.role)} must be hub, node or satellite`, { role: d.role });
    }
    const own = nodePrefix(opts.fleet, d.node);
    lines.push(
      `# ${d.role} ${d.node}`,
      `user ${d.username}`,
      `topic write ${own}`,
      `topic read ${fleetTree}`,
      "",
    );
  }
  return `${lines.join("\n")}`;
}
