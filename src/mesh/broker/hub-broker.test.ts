import { expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { enrolNode, tempDir, testFleet } from "../../identity/test-fleet.test-helper.ts";
import { createLogger } from "../../platform/log.ts";
import { createHubBroker } from "./hub-broker.ts";

const log = createLogger({ write: () => {} });

test("unmanaged: files for the system mosquitto are written, and it is told to reload when a device is admitted", async () => {
  const authority = testFleet("home", Date.now());
  const hub = enrolNode(authority, "hub", { role: "hub", now: Date.now() });
  const dataDir = tempDir("kiana-hub-");
  // Stands in for the system service: a process that reports the SIGHUP it gets.
  const fake = Bun.spawn(
    [
      process.execPath,
      "-e",
      'process.on("SIGHUP", () => { console.log("reloaded"); process.exit(0); }); setTimeout(() => {}, 10000);',
    ],
    { stdout: "pipe" },
  );
  await Bun.sleep(300);
  const pidFile = join(dataDir, "mosquitto.pid");
  writeFileSync(pidFile, `${fake.pid}\n`);
  const broker = createHubBroker({
    dataDir,
    fleet: "home",
    hub: { node: "hub", fingerprint: hub.fp, keys: hub.keys },
    listen: { host: "127.0.0.1", port: 1883 },
    managed: false,
    log,
    systemPidFile: pidFile,
  });
  expect(await broker.start()).toEqual({ port: 1883 });
  for (const f of ["mosquitto.conf", "passwords", "acl"]) expect(existsSync(join(broker.dir, f))).toBe(true);
  broker.admit(enrolNode(authority, "kitchen", { role: "satellite", now: Date.now() }).cert);
  expect(readFileSync(join(broker.dir, "acl"), "utf8")).toContain("topic write kiana/v1/home/kitchen/#");
  expect(readFileSync(join(broker.dir, "passwords"), "utf8")).toMatch(/^kitchen:\$7\$/m);
  const out = await Promise.race([new Response(fake.stdout).text(), Bun.sleep(5000).then(() => "timeout")]);
  expect(out.trim()).toBe("reloaded");
  await broker.stop();
}, 15_000);

test("admitted devices survive a restart of the hub", async () => {
  const authority = testFleet("home", Date.now());
  const hub = enrolNode(authority, "hub", { role: "hub", now: Date.now() });
  const dataDir = tempDir("kiana-hub-");
  const make = () =>
    createHubBroker({
      dataDir,
      fleet: "home",
      hub: { node: "hub", fingerprint: hub.fp, keys: hub.keys },
      listen: { host: "127.0.0.1", port: 1883 },
      managed: false,
      log,
      systemPidFile: join(dataDir, "none.pid"),
    });
  const first = make();
  first.admit(enrolNode(authority, "attic", { now: Date.now() }).cert);
  const second = make();
  expect(second.admitted().map((c) => c.name)).toEqual(["attic"]);
  expect(second.hubLogin).toEqual(first.hubLogin);
});
