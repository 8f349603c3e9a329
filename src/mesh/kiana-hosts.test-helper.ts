// Real `kiana run` processes, one per network namespace of a test LAN: the start-up every multi-process
// mesh test shares (admin and broker on every address, JSON logs, one-second heartbeats and chain
// pulls unless a test asks otherwise), and a teardown that ends them all before the namespaces go.
import { join } from "node:path";
import { createNetnsLan, type NetnsLan, type WatchedProcess, watch } from "./netns.test-helper.ts";

const MAIN = join(import.meta.dir, "..", "main.ts");

export interface KianaHosts {
  lan: NetnsLan;
  /** Every process started through `start` or `track`, for teardown and diagnostics. */
  procs: WatchedProcess[];
  /** `kiana run` in host namespace `host`; `extra` overrides the default environment. */
  start(host: number, dataDir: string, name: string, extra?: Record<string, string>): WatchedProcess;
  /** Registers another process for the teardown (clients, sniffers). */
  track(p: WatchedProcess): WatchedProcess;
  /** SIGTERM, up to 5 s for a clean exit, SIGKILL, then the namespaces are removed. */
  teardown(): Promise<void>;
}

export function createKianaHosts(count: number, prefix: string): KianaHosts {
  const lan = createNetnsLan(count, prefix);
  const procs: WatchedProcess[] = [];
  const track = (p: WatchedProcess) => {
    procs.push(p);
    return p;
  };
  return {
    lan,
    procs,
    track,
    start: (host, dataDir, name, extra = {}) =>
      track(
        watch(
          lan.run(lan.hosts[host] as string, [process.execPath, MAIN, "run"], {
            KIANA_DATA: dataDir,
            KIANA_NODE_NAME: name,
            KIANA_ADMIN_HOST: "0.0.0.0",
            KIANA_ADMIN_PORT: "8080",
            KIANA_BROKER_HOST: "0.0.0.0",
            KIANA_LOG_FORMAT: "json",
            KIANA_MESH_HEARTBEAT_SECONDS: "1",
            KIANA_CHAIN_SYNC_SECONDS: "1",
            ...extra,
          }),
        ),
      ),
    async teardown() {
      for (const p of procs) p.proc.kill("SIGTERM");
      await Promise.race([Promise.all(procs.map((p) => p.proc.exited)), Bun.sleep(5000)]);
      for (const p of procs) p.proc.kill("SIGKILL");
      lan.teardown();
    },
  };
}
