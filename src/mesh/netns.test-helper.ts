// A throwaway LAN for integration tests: N network namespaces on one bridge, so real multicast
// (mDNS) flows between real processes without touching the host's interfaces or routes.
import { randomBytes } from "node:crypto";

export interface NetnsLan {
  /** Every namespace of this LAN is named `<tag>-...`; for leak checks. */
  readonly tag: string;
  /** Namespace names of the hosts, index i has address `addresses[i]`. */
  readonly hosts: readonly string[];
  readonly addresses: readonly string[];
  /** Spawns `argv` inside host namespace `ns` (`ip netns exec`), stdout/stderr piped. */
  run(ns: string, argv: string[], env?: Record<string, string>): Bun.Subprocess<"ignore", "pipe", "pipe">;
  /** Deletes every namespace this LAN created; safe to call twice. */
  teardown(): void;
}

const SUBNET = "10.231.0";

function ip(args: string[]): { ok: boolean; err: string } {
  // Bounded: a hung `ip` must not hang the test run.
  const res = Bun.spawnSync(["ip", ...args], { stdout: "ignore", stderr: "pipe", timeout: 10_000 });
  return { ok: res.exitCode === 0, err: res.stderr.toString().trim() };
}

function must(args: string[]): void {
  const res = ip(args);
  if (!res.ok) throw new Error(`ip ${args.join(" ")} failed: ${res.err}`);
}

/** Lists namespaces whose name starts with `prefix`, for leak checks in tests. */
export function listNamespaces(prefix: string): string[] {
  const res = Bun.spawnSync(["ip", "netns", "list"], { stdout: "pipe", stderr: "ignore", timeout: 10_000 });
  return res.stdout
    .toString()
    .split("\n")
    .map((line) => line.split(" ")[0] ?? "")
    .filter((name) => name.startsWith(prefix));
}

/**
 * Builds the LAN: a "switch" namespace holding bridge br0, one veth pair per host (the host end
 * is eth0 inside the host namespace), 10.231.0.(i+1)/24, and a 224.0.0.0/4 route on eth0 so
 * multicast has an outgoing interface. Throws, naming the cause, when namespaces cannot be made:
 * a test that needs them must fail, never pass silently.
 */
export function createNetnsLan(count: number, prefix = "kt"): NetnsLan {
  if (!Number.isInteger(count) || count < 1 || count > 50) throw new Error(`bad host count ${count}`);
  // Random names so parallel runs never share or delete each other's namespaces.
  const tag = `${prefix}-${randomBytes(4).toString("hex")}`;
  const sw = `${tag}-sw`;
  const hosts = Array.from({ length: count }, (_, i) => `${tag}-h${i}`);
  const addresses = hosts.map((_, i) => `${SUBNET}.${i + 1}`);
  const created: string[] = [];
  let torn = false;

  const teardown = () => {
    if (torn) return;
    torn = true;
    process.off("exit", teardown);
    // Hosts first: deleting a namespace destroys its veth ends, then the switch goes.
    for (const ns of [...created].reverse()) ip(["netns", "del", ns]);
  };
  // Last resort if the test process ends without calling teardown.
  process.on("exit", teardown);

  try {
    for (const ns of [sw, ...hosts]) {
      const res = ip(["netns", "add", ns]);
      if (!res.ok) {
        throw new Error(
          `cannot create network namespace ${ns} (needs root or CAP_SYS_ADMIN and iproute2): ${res.err}`,
        );
      }
      created.push(ns);
    }
    must(["-n", sw, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0"]);
    must(["-n", sw, "link", "set", "br0", "up"]);
    hosts.forEach((ns, i) => {
      // The pair is created inside the switch namespace, so nothing appears in the host's.
      must(["-n", sw, "link", "add", `p${i}`, "type", "veth", "peer", "name", "eth0", "netns", ns]);
      must(["-n", sw, "link", "set", `p${i}`, "master", "br0"]);
      must(["-n", sw, "link", "set", `p${i}`, "up"]);
      must(["-n", ns, "link", "set", "lo", "up"]);
      must(["-n", ns, "addr", "add", `${addresses[i]}/24`, "dev", "eth0"]);
      must(["-n", ns, "link", "set", "eth0", "up"]);
      must(["-n", ns, "route", "add", "224.0.0.0/4", "dev", "eth0"]);
    });
  } catch (err) {
    teardown();
    throw err;
  }

  return {
    tag,
    hosts,
    addresses,
    run(ns, argv, env) {
      if (!hosts.includes(ns)) throw new Error(`${ns} is not a host of this LAN`);
      return Bun.spawn(["ip", "netns", "exec", ns, ...argv], {
        env: { ...process.env, ...env },
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
      });
    },
    teardown,
  };
}

export interface WatchedProcess {
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  /** Every JSON line the process printed on stdout so far; other lines are skipped. */
  lines: Record<string, unknown>[];
  stderr(): string;
}

/** Drains stdout and stderr in the background, so a chatty child never blocks on a full pipe. */
export function watch(proc: Bun.Subprocess<"ignore", "pipe", "pipe">): WatchedProcess {
  const lines: Record<string, unknown>[] = [];
  let err = "";
  void (async () => {
    let buf = "";
    for await (const chunk of proc.stdout.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          err += `(not JSON on stdout) ${line}\n`;
        }
      }
    }
  })();
  void (async () => {
    for await (const chunk of proc.stderr.pipeThrough(new TextDecoderStream())) err += chunk;
  })();
  return { proc, lines, stderr: () => err };
}

/** Polls `ok` every 50 ms; returns the ms it took, or throws with the processes' last words. */
export async function waitFor(
  what: string,
  ok: () => boolean,
  timeoutMs: number,
  procs: WatchedProcess[],
): Promise<number> {
  const start = performance.now();
  while (performance.now() - start < timeoutMs) {
    if (ok()) return performance.now() - start;
    await Bun.sleep(50);
  }
  const dump = procs.map((p) => `${JSON.stringify(p.lines.slice(-3))}\n${p.stderr().slice(-1500)}`);
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${dump.join("\n---\n")}`);
}
