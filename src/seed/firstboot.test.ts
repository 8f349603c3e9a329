import { expect, test } from "bun:test";
import {
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { createAccounts } from "../admin/accounts.ts";
import { loadConfig } from "../config/index.ts";
import { isKianaError } from "../errors.ts";
import { decodeCertificate, loadMembership, loadNodeKeys, verifyCertificate } from "../identity/index.ts";
import { T0 } from "../identity/test-fleet.test-helper.ts";
import { openStore } from "../store/index.ts";
import { KIANA_UID, testTarget } from "./firstboot.test-helper.ts";
import { applyFirstboot, DONE_FILE, type FirstbootStep } from "./firstboot.ts";
import { firstbootHealth, readFirstbootStatus } from "./firstboot-status.ts";
import { wpaPsk } from "./networkd.ts";
import { ADMIN_PASSWORD, SSH_KEY, testSeed } from "./seed.test-helper.ts";

const seed = testSeed();
const NOW = T0 + 86_400_000;
const read = (...p: string[]) => readFileSync(join(...p), "utf8");
const mode = (p: string) => statSync(p).mode & 0o777;
const run = (t: ReturnType<typeof testTarget>, afterStep?: (s: FirstbootStep) => void, now = NOW) =>
  applyFirstboot({ bootDir: t.boot, root: t.root, dataDir: t.data, now: () => now, afterStep });

/** Everything a user would notice about an applied device, to compare a crashed-then-rerun one with. */
async function outcome(t: ReturnType<typeof testTarget>) {
  const store = openStore({ path: join(t.data, "kiana.db") });
  const accounts = createAccounts({ store, sessionMs: 1000 });
  const passwordWorks = await accounts.checkPassword(ADMIN_PASSWORD);
  const wrongRefused = !(await accounts.checkPassword("wrong password!"));
  store.close();
  const m = loadMembership(t.data);
  return {
    hostname: read(t.root, "etc/hostname"),
    hosts: read(t.root, "etc/hosts"),
    eth0: read(t.root, "etc/systemd/network/10-kiana-eth0.network"),
    wpa: read(t.root, "etc/wpa_supplicant/wpa_supplicant-wlan0.conf"),
    config: read(t.root, "etc/kiana/kiana.toml"),
    keys: read(t.root, "home/operator/.ssh/authorized_keys"),
    passwd: read(t.root, "etc/passwd")
      .split("\n")
      .filter((l) => l.startsWith("operator:")).length,
    membership: m ? `${m.fleet.fleetId}/${m.certificate.name}/${m.certificate.role}` : null,
    fingerprint: loadNodeKeys({ dataDir: t.data }).fingerprint,
    passwordWorks,
    wrongRefused,
    boot: readdirSync(t.boot).sort(),
    stage: readdirSync(join(t.root, "etc")).filter((n) => n.includes("kiana-stage")),
  };
}

test("first boot applies the whole seed into a root and a data dir, then wipes the secrets from the card", async () => {
  const t = testTarget(seed);
  expect((await run(t)).state).toBe("applied");

  expect(read(t.root, "etc/hostname")).toBe("kitchen\n");
  expect(read(t.root, "etc/hosts")).toBe(
    "127.0.0.1\tlocalhost\n127.0.1.1\tkitchen\n::1\tlocalhost ip6-localhost\n",
  );
  const eth0 = read(t.root, "etc/systemd/network/10-kiana-eth0.network");
  for (const line of [
    "Name=eth0",
    "Address=192.168.1.20/24",
    "Gateway=192.168.1.1",
    "DNS=192.168.1.1",
    "Domains=home.arpa",
  ])
    expect(eth0).toContain(`${line}\n`);
  expect(read(t.root, "etc/systemd/network/10-kiana-wlan0.network")).toContain("DHCP=ipv4\n");
  const wpaPath = join(t.root, "etc/wpa_supplicant/wpa_supplicant-wlan0.conf");
  expect(mode(wpaPath)).toBe(0o600);
  expect(read(wpaPath)).toContain(`psk=${wpaPsk("Home Wifi", "wifi-secret-123")}`);
  expect(read(wpaPath)).not.toContain("wifi-secret-123");
  expect(
    readlinkSync(join(t.root, "etc/systemd/system/multi-user.target.wants/wpa_supplicant@wlan0.service")),
  ).toBe("/lib/systemd/system/wpa_supplicant@.service");

  // The runtime reads the node config the way it does on a device: name, role, fleet, LAN listener.
  const configPath = join(t.root, "etc/kiana/kiana.toml");
  const config = loadConfig({ env: {}, deviceConfigFile: configPath, flags: { config: configPath } });
  expect(config.node).toEqual({ name: "kitchen", role: "satellite", fleet: "home" });
  expect(config.admin.host).toBe("0.0.0.0");
  expect(config.mesh.hubUrl).toBe("http://hub.local:8080");
  expect(config.log.level).toBe("debug"); // the image's own setting is kept
  expect(mode(configPath)).toBe(0o640);
  expect(statSync(configPath).gid).toBe(KIANA_UID);
  expect(read(t.root, "etc/systemd/system/kiana.service.d/satellite-audio.conf")).toBe(
    read(import.meta.dir, "../../systemd/kiana.service.d/satellite-audio.conf"),
  );

  // The login user: created by useradd, SSH keys only it can read, passwordless sudo.
  const passwd =
    read(t.root, "etc/passwd")
      .split("\n")
      .find((l) => l.startsWith("operator:")) ?? "";
  const [, , uid] = passwd.split(":");
  const keys = join(t.root, "home/operator/.ssh/authorized_keys");
  expect(read(keys)).toBe(`${SSH_KEY}\n`);
  expect(mode(keys)).toBe(0o600);
  expect(mode(join(t.root, "home/operator/.ssh"))).toBe(0o700);
  expect(statSync(keys).uid).toBe(Number(uid));
  expect(statSync(join(t.root, "home/operator/.ssh")).uid).toBe(Number(uid));
  expect(read(t.root, "etc/group")).toMatch(/^adm:x:4:operator$/m);
  expect(mode(join(t.root, "etc/sudoers.d/90-kiana-operator"))).toBe(0o440);

  // The node is enrolled: what `kiana fleet join` would have stored, readable only by the service user.
  const membership = loadMembership(t.data);
  expect(membership?.certificate.name).toBe("kitchen");
  const node = loadNodeKeys({ dataDir: t.data });
  const cert = decodeCertificate(seed.identity?.certificate ?? "");
  expect(Buffer.from(node.signingPublicKey).equals(Buffer.from(cert.signingKey))).toBe(true);
  expect(
    verifyCertificate(cert, { fleetPublicKey: membership?.fleet.publicKey ?? new Uint8Array(), now: NOW }).ok,
  ).toBe(true);
  for (const f of ["keys/signing.pem", "keys/agreement.pem", "fleet/certificate.json", "fleet/fleet.json"]) {
    expect(mode(join(t.data, f))).toBe(0o600);
    expect(statSync(join(t.data, f)).uid).toBe(KIANA_UID);
  }
  expect(mode(join(t.data, "keys"))).toBe(0o700);
  expect(statSync(join(t.data, "kiana.db")).uid).toBe(KIANA_UID);

  const o = await outcome(t);
  expect(o.passwordWorks).toBe(true);
  expect(o.wrongRefused).toBe(true);

  // The card keeps only a record without secrets; the unit's condition file is gone.
  expect(readdirSync(t.boot).sort()).toEqual(["config.txt", DONE_FILE]);
  const record = read(t.boot, DONE_FILE);
  for (const secret of ["PRIVATE KEY", "argon2id", "wifi-secret", SSH_KEY])
    expect(record).not.toContain(secret);
  expect(JSON.parse(record)).toMatchObject({ node: { name: "kitchen" }, fingerprint: node.fingerprint });
  expect(readFirstbootStatus(t.data)?.state).toBe("applied");
  expect(firstbootHealth(t.data)).toBeNull();

  // A second run finds no seed and changes nothing.
  const before = statSync(configPath).mtimeMs;
  expect((await run(t)).state).toBe("no-seed");
  expect(statSync(configPath).mtimeMs).toBe(before);
  expect(await outcome(t)).toEqual(o);
}, 30_000);

test("a power cut after any step is finished by the next boot, with the same result", async () => {
  const clean = testTarget(seed);
  await run(clean);
  const expected = await outcome(clean);
  const steps: FirstbootStep[] = ["validated", "user", "staged", "committed", "admin", "recorded"];
  steps.push("wiped:user-data", "wiped:meta-data", "wiped:network-config", "wiped:kiana.toml");
  for (const cut of steps) {
    const t = testTarget(seed);
    const crash = (s: FirstbootStep) => {
      if (s === cut) throw new Error(`power cut after ${s}`);
    };
    await expect(run(t, crash)).rejects.toThrow(`power cut after ${cut}`);
    // As at boot: the unit runs again only while kiana.toml is on the card.
    if (existsSync(join(t.boot, "kiana.toml"))) await run(t);
    const got = await outcome(t);
    expect({ cut, ...got }).toEqual({ cut, ...expected });
  }
}, 120_000);

test("a wipe cut between zeroing kiana.toml and removing it is finished without parsing zeros", async () => {
  const t = testTarget(seed);
  await expect(
    run(t, (s) => {
      if (s === "recorded") throw new Error("cut");
    }),
  ).rejects.toThrow("cut");
  const size = statSync(join(t.boot, "kiana.toml")).size;
  writeFileSync(join(t.boot, "kiana.toml"), Buffer.alloc(size));
  expect((await run(t)).state).toBe("finished-cleanup");
  expect(readdirSync(t.boot).sort()).toEqual(["config.txt", DONE_FILE]);
});

test("a bad seed applies nothing, stays on the card, and shows as a health problem", async () => {
  const t = testTarget(seed);
  writeFileSync(
    join(t.boot, "user-data"),
    read(t.boot, "user-data").replace("lock_passwd: true", "lock_passwd: false"),
  );
  const hostsBefore = read(t.root, "etc/hosts");
  const err = await run(t).catch((e) => e);
  expect(isKianaError(err, "SEED_INVALID")).toBe(true);
  expect(err.message).toContain("user-data: users.0.lock_passwd must be true");
  expect(existsSync(join(t.root, "etc/hostname"))).toBe(false);
  expect(read(t.root, "etc/hosts")).toBe(hostsBefore);
  expect(existsSync(join(t.data, "keys"))).toBe(false);
  expect(read(t.root, "etc/passwd")).not.toContain("operator");
  expect(existsSync(join(t.boot, "kiana.toml"))).toBe(true);
  const health = firstbootHealth(t.data);
  expect(health).toMatchObject({ code: "FIRSTBOOT_FAILED", severity: "error" });
  expect(health?.message).toContain("user-data: users.0.lock_passwd");
  expect(readFirstbootStatus(t.data)).toMatchObject({ file: "user-data", field: "users.0.lock_passwd" });
  expect(JSON.stringify(readFirstbootStatus(t.data))).not.toContain("PRIVATE KEY");
});

test("device checks: an expired certificate and a group the image lacks are refused; a clock behind is not", async () => {
  const expired = testTarget(seed);
  const err = await run(expired, undefined, T0 + 400 * 86_400_000).catch((e) => e);
  expect(err.message).toContain("kiana.toml: enrolment.certificate is not valid: expired");
  const noGroup = testTarget({
    ...seed,
    user: { name: "operator", groups: ["wheel"], sshAuthorizedKeys: [SSH_KEY] },
  });
  expect((await run(noGroup).catch((e) => e)).message).toContain(
    'user-data: users.0.groups.0 "wheel" does not exist',
  );
  // A Pi without an RTC boots in 1970 (or at the image's build date) until NTP answers.
  expect((await run(testTarget(seed), undefined, 0)).state).toBe("applied");
});

test("a hub listens for MQTT on the LAN and gets no audio drop-in; a seed without identity stays unenrolled", async () => {
  const hub = testSeed({ name: "hub", role: "hub" });
  const t = testTarget({
    ...hub,
    identity: undefined,
    admin: undefined,
    user: undefined,
    network: undefined,
  });
  await run(t);
  expect(read(t.root, "etc/kiana/kiana.toml")).toContain('host = "0.0.0.0"');
  const config = loadConfig({ env: {}, flags: { config: join(t.root, "etc/kiana/kiana.toml") } });
  expect(config.broker.host).toBe("0.0.0.0");
  expect(existsSync(join(t.root, "etc/systemd/system/kiana.service.d/satellite-audio.conf"))).toBe(false);
  expect(loadMembership(t.data)).toBeNull();
  expect(lstatSync(join(t.boot, DONE_FILE)).isFile()).toBe(true);
});
