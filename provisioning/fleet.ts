// The operator's fleet script (`provisioning/fleet`): init the fleet authority, provision cards from
// an inventory, adopt unprovisioned devices on the LAN. Exit codes as kiana's: 0, 1 failed, 64 usage.
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { describeError, isKianaError } from "../src/errors.ts";
import { runFleetCommand } from "../src/identity/fleet-cli.ts";
import { ProvisionError, provisionError } from "./errors.ts";
import { formatSummary, provision } from "./provision.ts";

export const USAGE = `usage: provisioning/fleet <command> [options]

  init --fleet ID [--dir DIR]
      create the fleet authority key in DIR (default ./kiana-fleet or $KIANA_FLEET_DIR); keep it off the devices
  provision --inventory fleet.csv --image kiana.img (--out DIR | --device /dev/sdX [--name NAME]) [--dir DIR]
      give every inventory row keys, a certificate and a seed: in DIR/<name>.img, or on one card
  adopt [--dir DIR] [--wait SECONDS]
      list devices on the LAN (mDNS) that are not in this fleet, and whether they await setup
  adopt --url URL --code CODE --name NAME --role ROLE [--password-file FILE] [--pubkey KEYS] [--out DIR] [--dir DIR]
      set up a device with its one-time setup code and issue its certificate (see provisioning/README.md)
`;

const OPTIONS = {
  dir: { type: "string" },
  fleet: { type: "string" },
  inventory: { type: "string" },
  image: { type: "string" },
  out: { type: "string" },
  device: { type: "string" },
  name: { type: "string" },
  role: { type: "string" },
  url: { type: "string" },
  code: { type: "string" },
  "password-file": { type: "string" },
  pubkey: { type: "string" },
  wait: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export interface FleetIo {
  out(text: string): void;
  err(text: string): void;
  env: Record<string, string | undefined>;
  /** Whether stderr is a terminal: progress then rewrites one line per device. */
  tty: boolean;
}

const need = (value: string | undefined, flag: string): string => {
  if (!value) throw provisionError("PROVISION_USAGE", `--${flag} is required`);
  return value;
};

/** Per-device progress: rewritten in place on a terminal; in a log, quarters of a card write and the end. */
function progressPrinter(io: FleetIo) {
  let lastQuarter = -1;
  return (device: string, text: string, done: boolean) => {
    if (io.tty) return io.err(`\r\x1b[2K${device}: ${text}${done ? "\n" : ""}`);
    const percent = /(\d+)%$/.exec(text)?.[1];
    const quarter = percent === undefined ? -1 : Math.floor(Number(percent) / 25);
    if (done || (quarter >= 0 && quarter !== lastQuarter)) io.err(`${device}: ${text}\n`);
    lastQuarter = quarter;
  };
}

export async function runFleet(argv: string[], io: FleetIo): Promise<number> {
  try {
    const { values: v, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
    const [command, ...extra] = positionals;
    if (v.help || !command) {
      io.out(USAGE);
      return v.help ? 0 : 64;
    }
    if (extra.length > 0) throw provisionError("PROVISION_USAGE", `unexpected argument ${extra[0]}`);
    const dir = resolve(v.dir ?? io.env.KIANA_FLEET_DIR ?? "kiana-fleet");
    if (command === "init") {
      // The same code path as `kiana fleet init`: one place makes fleet authorities.
      return runFleetCommand(
        "init",
        { dir, fleet: need(v.fleet, "fleet") },
        { out: io.out, env: io.env, now: Date.now() },
      );
    }
    if (command === "provision") {
      if (!v.out === !v.device)
        throw provisionError("PROVISION_USAGE", "give exactly one of --out DIR or --device PATH");
      const results = await provision({
        inventory: need(v.inventory, "inventory"),
        image: need(v.image, "image"),
        fleetDir: dir,
        target: v.out ? { out: v.out } : { device: v.device as string, name: v.name },
        progress: progressPrinter(io),
      });
      io.out(formatSummary(results));
      return 0;
    }
    if (command === "adopt") {
      const { runAdopt } = await import("./adopt.ts");
      return await runAdopt(v, { dir, io });
    }
    throw provisionError("PROVISION_USAGE", `unknown command ${command}`);
  } catch (err) {
    const usage =
      (err instanceof ProvisionError && err.code === "PROVISION_USAGE") ||
      isKianaError(err, "CLI_USAGE") ||
      (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
    io.err(`fleet: ${describeError(err)}\n${usage ? `\n${USAGE}` : ""}`);
    return usage ? 64 : 1;
  }
}

if (import.meta.main) {
  const code = await runFleet(process.argv.slice(2), {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
    env: process.env,
    tty: process.stderr.isTTY === true,
  });
  process.exit(code);
}
