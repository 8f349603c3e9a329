// The hub's broker: writes mosquitto.conf, the password file and the ACL under <data>/mosquitto,
// runs mosquitto as a child (broker.managed) and admits enrolled devices that join.

import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  type Certificate,
  certificateFingerprint,
  decodeCertificate,
  encodeCertificate,
} from "../../identity/enrolment.ts";
import type { NodeKeys } from "../../identity/node-keys.ts";
import { writeFileAtomic } from "../../platform/atomic-file.ts";
import type { Logger } from "../../platform/log.ts";
import { brokerPassword } from "../broker-credentials.ts";
import { aclFile, type BridgeOptions, mosquittoConfig } from "./mosquitto-config.ts";
import { type MosquittoProcess, startMosquitto } from "./mosquitto-process.ts";
import { writePasswordFile } from "./password-file.ts";

export interface HubBrokerOptions {
  dataDir: string;
  fleet: string;
  hub: { node: string; fingerprint: string; keys: Pick<NodeKeys, "agree"> };
  listen: { host: string; port: number };
  /** false: only write the files, for the system mosquitto service to read. */
  managed: boolean;
  bridge?: BridgeOptions;
  log: Logger;
  runAsUser?: string;
  mosquittoPath?: string;
  /** With managed = false: the system service's pid file, signalled to reload after a device is admitted. */
  systemPidFile?: string;
}

export interface HubBroker {
  readonly dir: string;
  /** The hub's own MQTT login (a random secret kept in <data>/mosquitto/hub.secret). */
  readonly hubLogin: { username: string; password: string };
  start(): Promise<{ port: number }>;
  /** Adds or renews a device's login (its derived password) and reloads the broker. */
  admit(cert: Certificate): void;
  admitted(): Certificate[];
  stop(): Promise<void>;
}

export function createHubBroker(opts: HubBrokerOptions): HubBroker {
  const dir = join(opts.dataDir, "mosquitto");
  mkdirSync(dir, { recursive: true, mode: 0o750 });
  const secretFile = join(dir, "hub.secret");
  if (!existsSync(secretFile)) writeFileAtomic(secretFile, randomBytes(32).toString("base64url"), 0o600);
  const hubLogin = { username: opts.hub.node, password: readFileSync(secretFile, "utf8").trim() };
  const admittedFile = join(dir, "admitted.json");
  // Certificates of admitted devices, by name: the files are rebuilt from these on every change.
  const devices = new Map<string, Certificate>();
  if (existsSync(admittedFile)) {
    try {
      for (const text of JSON.parse(readFileSync(admittedFile, "utf8")) as string[]) {
        const cert = decodeCertificate(text);
        devices.set(cert.name, cert);
      }
    } catch (err) {
      opts.log.warn(
        { file: admittedFile, err: String(err) },
        "admitted devices file unreadable; devices will join again",
      );
    }
  }
  let proc: MosquittoProcess | undefined;
  let stopped = false;

  const files = {
    passwordFile: join(dir, "passwords"),
    aclFile: join(dir, "acl"),
    conf: join(dir, "mosquitto.conf"),
  };
  const config = {
    listener: opts.listen,
    dataDir: join(dir, "data"),
    passwordFile: files.passwordFile,
    aclFile: files.aclFile,
    persistence: true,
    bridge: opts.bridge,
    runAsUser: opts.runAsUser,
  };

  const writeFiles = () => {
    mkdirSync(config.dataDir, { recursive: true, mode: 0o750 });
    const users = [hubLogin];
    for (const cert of devices.values()) {
      users.push({
        username: cert.name,
        password: brokerPassword({
          ownKeys: opts.hub.keys,
          peerAgreementKey: cert.agreementKey,
          deviceFp: certificateFingerprint(cert),
          hubFp: opts.hub.fingerprint,
        }),
      });
    }
    writePasswordFile(files.passwordFile, users);
    const acl = aclFile({
      fleet: opts.fleet,
      hubUsers: [hubLogin.username],
      devices: [...devices.values()].map((c) => ({ username: c.name, node: c.name, role: c.role })),
    });
    writeFileAtomic(files.aclFile, acl, 0o640);
    writeFileAtomic(files.conf, mosquittoConfig(config), 0o640);
    writeFileAtomic(admittedFile, JSON.stringify([...devices.values()].map(encodeCertificate)), 0o640);
  };

  /** The system mosquitto service re-reads passwords and ACL on SIGHUP, like our child. */
  function reloadSystemBroker(): void {
    const pidFile = opts.systemPidFile ?? "/run/mosquitto/mosquitto.pid";
    try {
      process.kill(Number(readFileSync(pidFile, "utf8").trim()), "SIGHUP");
    } catch (err) {
      opts.log.warn(
        { pidFile, err: String(err) },
        "could not ask the system mosquitto to reload; run: systemctl reload mosquitto",
      );
    }
  }

  /** The broker is the fleet's spine: when it dies, start it again, waiting longer after each quick death. */
  function supervise(p: MosquittoProcess, attempt = 0): void {
    const startedAt = Date.now();
    void p.exited.then(async (code) => {
      if (stopped || proc !== p) return;
      const next = Date.now() - startedAt > 60_000 ? 0 : attempt + 1;
      const delay = Math.min(30_000, 250 * 2 ** next);
      opts.log.warn({ code, restartInMs: delay }, "mosquitto exited; restarting it");
      await Bun.sleep(delay);
      if (stopped || proc !== p) return;
      try {
        await p.restart();
        supervise(p, next);
      } catch (err) {
        opts.log.error({ err: String(err) }, "mosquitto did not restart; trying again");
        supervise(p, next + 1);
      }
    });
  }

  return {
    dir,
    hubLogin,
    async start() {
      writeFiles();
      if (!opts.managed) return { port: opts.listen.port };
      proc = await startMosquitto({
        configDir: dir,
        config,
        log: opts.log,
        mosquittoPath: opts.mosquittoPath,
      });
      supervise(proc);
      return { port: proc.port };
    },
    admit(cert) {
      if (cert.name === hubLogin.username) return;
      const known = devices.get(cert.name);
      if (
        known &&
        certificateFingerprint(known) === certificateFingerprint(cert) &&
        known.expiresAt === cert.expiresAt
      )
        return;
      devices.set(cert.name, cert);
      writeFiles();
      if (proc) proc.reload();
      else if (!opts.managed) reloadSystemBroker();
      opts.log.info({ device: cert.name, role: cert.role }, "admitted device to the broker");
    },
    admitted: () => [...devices.values()],
    async stop() {
      stopped = true;
      await proc?.stop();
      proc = undefined;
    },
  };
}
