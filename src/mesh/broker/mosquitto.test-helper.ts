// A real mosquitto for tests: free loopback port, temp dir, generated passwords and ACL, and a
// teardown that kills it (also on process exit, so a crashed test run leaves no broker behind).

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isKianaError } from "../../errors.ts";
import { freeLoopbackPort } from "../../platform/free-port.test-helper.ts";
import { type AclOptions, aclFile, type BridgeOptions, type DeviceRole } from "./mosquitto-config.ts";
import { type MosquittoProcess, startMosquitto } from "./mosquitto-process.ts";
import { type BrokerUser, writePasswordFile } from "./password-file.ts";

export interface TestDevice extends BrokerUser {
  node: string;
  role?: DeviceRole;
}

export interface TestBrokerOptions {
  fleet: string;
  devices?: TestDevice[];
  /** Users with read and write on the whole fleet tree (the hub, bridge links). */
  hubs?: BrokerUser[];
  bridge?: BridgeOptions;
  persistence?: boolean;
}

export interface TestBroker {
  host: string;
  port: number;
  url: string;
  dir: string;
  process: MosquittoProcess;
  /** mosquitto's log lines, for failure messages. */
  logs: string[];
  /** Rewrites passwords and ACL and sends SIGHUP. */
  setUsers(devices: TestDevice[], hubs: BrokerUser[]): void;
  stop(): Promise<void>;
}

const live = new Set<MosquittoProcess>();
process.on("exit", () => {
  for (const p of live) {
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
});

export { freeLoopbackPort };

export async function startTestBroker(opts: TestBrokerOptions): Promise<TestBroker> {
  const dir = mkdtempSync(join(tmpdir(), "kiana-mosquitto-"));
  const host = "127.0.0.1";
  const logs: string[] = [];
  const log = {
    info: (obj: object) => void logs.push(String((obj as { line?: unknown }).line ?? JSON.stringify(obj))),
    warn: (obj: object) => void logs.push(String((obj as { line?: unknown }).line ?? JSON.stringify(obj))),
  };
  const passwordPath = join(dir, "passwd");
  const aclPath = join(dir, "acl");
  const setUsers = (devices: TestDevice[], hubs: BrokerUser[]) => {
    const acl: AclOptions = {
      fleet: opts.fleet,
      devices: devices.map((d) => ({ username: d.username, node: d.node, role: d.role ?? "node" })),
      hubUsers: hubs.map((h) => h.username),
    };
    writeFileSync(aclPath, aclFile(acl));
    writePasswordFile(passwordPath, [...hubs, ...devices]);
  };
  setUsers(opts.devices ?? [], opts.hubs ?? []);

  let proc: MosquittoProcess | undefined;
  // Another process may grab the free port between our probe and mosquitto's bind: try a few ports.
  for (let attempt = 0; !proc; attempt++) {
    try {
      proc = await startMosquitto({
        configDir: dir,
        config: {
          listener: { host, port: freeLoopbackPort() },
          dataDir: join(dir, "data"),
          passwordFile: passwordPath,
          aclFile: aclPath,
          persistence: opts.persistence ?? false,
          bridge: opts.bridge,
          runAsUser: process.getuid?.() === 0 ? "root" : undefined,
        },
        log,
        readyTimeoutMs: 5000,
      });
    } catch (err) {
      if (attempt >= 3 || !isKianaError(err, "BROKER_PORT_IN_USE")) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
  const started = proc;
  live.add(started);
  return {
    host,
    port: started.port,
    url: `mqtt://${host}:${started.port}`,
    dir,
    process: started,
    logs,
    setUsers(devices, hubs) {
      setUsers(devices, hubs);
      started.reload();
    },
    async stop() {
      await started.stop();
      live.delete(started);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
