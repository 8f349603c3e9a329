// The CLI and the composition root: `kiana run|status|doctor|fleet|version`. The commands in src/cli/
// build the adapters and wire the capabilities; no other module constructs adapters.
import { runChainCommand } from "./cli/chain.ts";
import { runNode } from "./cli/run.ts";
import { doctor, joinFleetCommand, printStatus } from "./cli/status.ts";
import { CONFIG_EXIT_CODE, type KianaConfig, loadConfig } from "./config/index.ts";
import { describeError, isKianaError, kianaError } from "./errors.ts";
import { createLogger } from "./platform/log.ts";
import { VERSION } from "./version.ts";

const USAGE = `kiana ${VERSION}: private, offline AI assistant runtime

usage: kiana <command> [options]

commands:
  run        start this node (admin page, API)
  status     show this node's identity, address and whether it is running
  doctor     check hardware, native engines, system packages and health (--json)
  version    print the version
  fleet      init | enroll | join: fleet authority and enrolment certificates
  firstboot  apply the seed on the boot partition once [--boot DIR] [--root DIR] (kiana-firstboot.service)
  chain      append | show | verify | sync | status | checkpoint | vote: the knowledge chain
  model      import FILE [--name N] [--sha256 HEX] | list | remove ID|NAME | verify [ID|NAME]
  fedavg     status | start-round [--timeout S]: federated training of the wake-word verifier

options:
  --config FILE       config file (default /etc/kiana/kiana.toml on a device, <data>/kiana.toml in dev)
  --data DIR          data directory (default /var/lib/kiana on a device, ./.kiana in dev; or KIANA_DATA)
  --port N            admin port (admin.port), --host ADDR (admin.host), --role hub|node|satellite
  --set key=value     any config field, e.g. --set log.level=debug (repeatable)
  --json              machine-readable output (status, doctor)
`;

interface Args {
  command: string;
  /** Words after the command, e.g. `init` in `kiana fleet init`. */
  rest: string[];
  flags: Record<string, string>;
  json: boolean;
}

const VALUE_FLAGS = new Set([
  ...["config", "data", "port", "host", "role", "name", "fleet", "log-level", "set"],
  ...["dir", "pubkey", "days", "out", "cert", "fleet-info", "boot", "root"],
  ...["type", "text", "author", "since", "grep", "limit", "peer", "timeout", "validator", "seq", "sha256"],
]);

export function parseArgs(argv: string[]): Args {
  const flags: Record<string, string> = {};
  const words: string[] = [];
  let help = false;
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--json") json = true;
    else if (arg === "-h" || arg === "--help") help = true;
    else if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = arg.slice(2, eq > 0 ? eq : undefined);
      if (!VALUE_FLAGS.has(name)) throw kianaError("CLI_USAGE", `unknown option --${name}`);
      const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined) throw kianaError("CLI_USAGE", `--${name} needs a value`);
      flags[name] = name === "set" && flags.set ? `${flags.set}\u0000${value}` : value;
    } else words.push(arg);
  }
  const [command = "run", ...rest] = help ? ["help"] : words;
  if (!["fleet", "chain", "model", "fedavg"].includes(command) && rest.length > 0)
    throw kianaError("CLI_USAGE", `unexpected argument ${rest[0]}`);
  return { command, rest, flags, json };
}

export async function main(argv: string[]): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (err) {
    process.stderr.write(`kiana: ${describeError(err)}\n\n${USAGE}`);
    return 64;
  }
  if (args.command === "help") {
    process.stdout.write(USAGE);
    return 0;
  }
  if (args.command === "version") {
    process.stdout.write(`kiana ${VERSION}\n`);
    return 0;
  }
  if (args.command === "fleet" && args.rest[0] !== "join") {
    const { runFleetCommand } = await import("./identity/fleet-cli.ts");
    try {
      return runFleetCommand(args.rest[0], args.flags, {
        out: (t) => process.stdout.write(t),
        env: process.env,
        now: Date.now(),
      });
    } catch (err) {
      process.stderr.write(`kiana: ${describeError(err)}\n`);
      return isKianaError(err, "CLI_USAGE") ? 64 : 1;
    }
  }
  // Runs before the node has a config: it is what writes /etc/kiana/kiana.toml.
  if (args.command === "firstboot") return (await import("./cli/firstboot.ts")).firstbootCommand(args.flags);
  if (!["run", "status", "doctor", "fleet", "chain", "model", "fedavg"].includes(args.command)) {
    process.stderr.write(`kiana: unknown command ${args.command}\n\n${USAGE}`);
    return 64;
  }
  let config: Readonly<KianaConfig>;
  try {
    // `kiana model import --name` names the model, not this node.
    const { name: _modelName, ...rest } = args.flags;
    config = loadConfig({ flags: args.command === "model" ? rest : args.flags });
  } catch (err) {
    process.stderr.write(`kiana: config error: ${describeError(err)}\n`);
    return CONFIG_EXIT_CODE;
  }
  // Commands that print for people keep the log quiet; `run` logs what it does.
  const log = createLogger({
    level: args.command === "run" ? config.log.level : "warn",
    format: args.command !== "run" ? "pretty" : config.log.format === "auto" ? undefined : config.log.format,
    write: args.command === "run" ? undefined : (line) => process.stderr.write(line),
  });
  try {
    if (args.command === "run") {
      await runNode(config, log);
      return -1;
    }
    if (args.command === "status") {
      await printStatus(config, log, args.json);
      return 0;
    }
    if (args.command === "fleet") return await joinFleetCommand(config, log, args.flags);
    if (args.command === "model")
      return await (await import("./cli/model.ts")).runModelCommand(
        args.rest[0],
        args.rest.slice(1),
        args.flags,
        args.json,
        config,
        log,
      );
    if (args.command === "fedavg")
      return await (await import("./cli/fedavg.ts")).runFedavgCommand(
        args.rest[0],
        args.flags,
        args.json,
        config,
      );
    if (args.command === "chain")
      return await runChainCommand(args.rest[0], args.flags, args.json, config, log, args.rest.slice(1));
    return await doctor(config, log, args.json);
  } catch (err) {
    const code = isKianaError(err) ? err.code : "UNEXPECTED";
    if (args.command === "run") log.fatal({ code, err: describeError(err) }, "kiana stopped");
    process.stderr.write(`kiana: ${describeError(err)}\n`);
    return isKianaError(err, "CONFIG_INVALID") ? CONFIG_EXIT_CODE : isKianaError(err, "CLI_USAGE") ? 64 : 1;
  }
}

if (import.meta.main) {
  const code = await main(process.argv.slice(2));
  // -1: `run` keeps the process alive until a signal.
  if (code >= 0) process.exit(code);
}
