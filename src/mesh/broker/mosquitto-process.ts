// Runs mosquitto as a child process for a hub with `broker.managed = true` (dev and tests): writes
// the generated config, waits until the listener accepts connections, and pipes its log to ours.
import { mkdirSync, writeFileSync } from "node:fs";
import { constants } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { describeError, isKianaError, kianaError } from "../../errors.ts";
import type { Logger } from "../../platform/log.ts";
import { type MosquittoConfigOptions, mosquittoConfig } from "./mosquitto-config.ts";

export interface StartMosquittoOptions {
  /** Where mosquitto.conf is written. The password and ACL files named in `config` are the caller's. */
  configDir: string;
  config: MosquittoConfigOptions;
  log: Pick<Logger, "info" | "warn">;
  mosquittoPath?: string;
  readyTimeoutMs?: number;
}

export interface MosquittoProcess {
  readonly port: number;
  readonly pid: number;
  /** Exit code of the current process (signals read as 128 + n). */
  readonly exited: Promise<number>;
  stop(): Promise<void>;
  /** Stops and starts again on the same port and config. */
  restart(): Promise<void>;
  /** SIGHUP: mosquitto re-reads the password file and the ACL; bridges and listeners stay. */
  reload(): void;
}

const STOP_GRACE_MS = 3000;

async function portAccepts(host: string, port: number): Promise<boolean> {
  try {
    const sock = await Bun.connect({ hostname: host, port, socket: { data() {} } });
    sock.end();
    return true;
  } catch {
    return false;
  }
}

/** Binding first gives a clear "port taken" instead of our readiness probe talking to someone else's server. */
function checkPortFree(host: string, port: number): void {
  try {
    const probe = Bun.listen({ hostname: host, port, socket: { data() {} } });
    probe.stop(true);
  } catch (err) {
    throw kianaError(
      "BROKER_PORT_IN_USE",
      `MQTT port ${host}:${port} is already in use; stop the other broker or pick another port`,
      { host, port },
      err,
    );
  }
}

export async function startMosquitto(opts: StartMosquittoOptions): Promise<MosquittoProcess> {
  const bin = opts.mosquittoPath ?? "mosquitto";
  const resolved = Bun.which(bin) ?? Bun.which(bin, { PATH: "/usr/sbin:/sbin:/usr/local/sbin" });
  if (!resolved) {
    throw kianaError(
      "BROKER_BINARY_MISSING",
      `mosquitto not found (${bin}); install the Debian package mosquitto`,
      { mosquittoPath: bin },
    );
  }
  const { host, port } = opts.config.listener;
  const readyTimeoutMs = opts.readyTimeoutMs ?? 5000;
  mkdirSync(opts.configDir, { recursive: true, mode: 0o700 });
  mkdirSync(opts.config.dataDir, { recursive: true, mode: 0o700 });
  const confPath = join(opts.configDir, "mosquitto.conf");
  writeFileSync(confPath, mosquittoConfig(opts.config), { mode: 0o640 });

  let child: Subprocess<"ignore", "ignore", "pipe">;
  let stopping = false;
  const tail: string[] = [];

  const pumpStderr = async (proc: typeof child) => {
    const decoder = new TextDecoder();
    let buf = "";
    try {
      for await (const chunk of proc.stderr) {
        buf += decoder.decode(chunk, { stream: true });
        for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line) continue;
          tail.push(line);
          if (tail.length > 40) tail.shift();
          if (/error|warning/i.test(line)) opts.log.warn({ line }, "mosquitto");
          else opts.log.info({ line }, "mosquitto");
        }
      }
    } catch (err) {
      opts.log.warn({ error: describeError(err) }, "mosquitto log stream failed");
    }
  };

  const launch = async () => {
    checkPortFree(host, port);
    tail.length = 0;
    const proc = Bun.spawn([resolved, "-c", confPath], { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
    child = proc;
    const logged = pumpStderr(proc);
    let exitedEarly: number | undefined;
    proc.exited.then((code) => {
      exitedEarly = code;
    });
    const deadline = performance.now() + readyTimeoutMs;
    while (performance.now() < deadline) {
      if (exitedEarly !== undefined) break;
      if (await portAccepts(host, port)) break;
      await Bun.sleep(25);
    }
    // A last look: mosquitto may have exited just after someone else's listener answered the probe.
    await Bun.sleep(10);
    if (exitedEarly !== undefined || proc.exitCode !== null) {
      await Promise.race([logged, Bun.sleep(200)]);
      const stderr = tail.join("\n");
      const taken = /address already in use/i.test(stderr);
      throw kianaError(
        taken ? "BROKER_PORT_IN_USE" : "BROKER_START_FAILED",
        taken
          ? `MQTT port ${host}:${port} is already in use`
          : `mosquitto exited at start: ${tail.at(-1) ?? ""}`,
        { host, port, exitCode: proc.exitCode, stderr },
      );
    }
    if (!(await portAccepts(host, port))) {
      proc.kill("SIGKILL");
      throw kianaError(
        "BROKER_START_FAILED",
        `mosquitto did not accept connections within ${readyTimeoutMs} ms`,
        {
          host,
          port,
          stderr: tail.join("\n"),
        },
      );
    }
    opts.log.info({ port, pid: proc.pid }, "mosquitto started");
  };

  const stop = async () => {
    const proc = child;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    stopping = true;
    proc.kill("SIGTERM");
    const done = await Promise.race([
      proc.exited.then(() => true),
      Bun.sleep(STOP_GRACE_MS).then(() => false),
    ]);
    if (!done) {
      opts.log.warn({ pid: proc.pid }, "mosquitto ignored SIGTERM; killing it");
      proc.kill("SIGKILL");
      await proc.exited;
    }
    stopping = false;
  };

  await launch();
  return {
    port,
    get pid() {
      return child.pid;
    },
    get exited() {
      const proc = child;
      return proc.exited.then(() => {
        if (proc.exitCode !== null) return proc.exitCode;
        const sig = proc.signalCode ?? "SIGKILL";
        return 128 + (typeof sig === "number" ? sig : (constants.signals[sig] ?? 9));
      });
    },
    stop,
    async restart() {
      await stop();
      // The kernel may hold the port briefly after the old listener closed; retry a few times.
      for (let attempt = 0; ; attempt++) {
        try {
          await launch();
          return;
        } catch (err) {
          if (attempt >= 20 || !isKianaError(err, "BROKER_PORT_IN_USE")) throw err;
          await Bun.sleep(100);
        }
      }
    },
    reload() {
      if (!stopping && child.exitCode === null) child.kill("SIGHUP");
    },
  };
}
