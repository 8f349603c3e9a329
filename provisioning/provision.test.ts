// `fleet init` + `fleet provision` as the operator runs them, against a small image this test builds
// with sfdisk/mkfs (MBR and GPT): the seed read back from each copy with mtools is this device's,
// its certificate verifies against the fleet key, the rest of the image is untouched.
import { afterAll, describe, expect, test } from "bun:test";
import { createPrivateKey, createPublicKey } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  certificateFingerprint,
  decodeCertificate,
  formatFingerprint,
  loadFleetAuthority,
  verifyCertificate,
} from "../src/identity/index.ts";
import { parseSeedFiles } from "../src/seed/index.ts";
import { listFatFiles, readFatFile } from "./fat-files.ts";
import { type FleetIo, runFleet } from "./fleet.ts";
import { findBootPartition } from "./partition-table.ts";
import { BOOT_START_SECTOR, buildTestImage } from "./test-image.test-helper.ts";

const work = mkdtempSync(join(tmpdir(), "kiana-provision-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const fleetDir = join(work, "fleet");
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDx3cbzn1NcyB7yBKNYr8z3Pp7b1bXqUmv2Ve9Frq4Lk op@laptop";

async function fleet(...argv: string[]) {
  let out = "";
  let err = "";
  const io: FleetIo = {
    out: (t) => {
      out += t;
    },
    err: (t) => {
      err += t;
    },
    env: {},
    tty: false,
  };
  const code = await runFleet([...argv, "--dir", fleetDir], io);
  return { code, out, err };
}

function inventory(rows: string[]): string {
  const path = join(work, `inv-${Math.random().toString(36).slice(2)}.csv`);
  writeFileSync(
    path,
    ["name,role,network,address,gateway,wifi_ssid,wifi_psk,ssh_key,admin_password", ...rows].join("\n"),
  );
  return path;
}

/** Every seed file on the card's boot partition, parsed the way firstboot will. */
function seedOn(target: string) {
  const { offset } = findBootPartition(target);
  const files = listFatFiles(target, offset).filter((p) => p !== "config.txt");
  return {
    files,
    seed: parseSeedFiles(files.map((path) => ({ path, bytes: readFatFile(target, offset, path) }))),
  };
}

function expectEnrolled(target: string, name: string, role: string) {
  const { seed, files } = seedOn(target);
  // network-config only where the row sets a network; the image's DHCP default covers the rest.
  for (const f of ["kiana.toml", "meta-data", "user-data"]) expect(files).toContain(f);
  expect(seed.node).toMatchObject({ name, role, fleet: "home" });
  const authority = loadFleetAuthority(fleetDir);
  const cert = decodeCertificate(seed.identity?.certificate ?? "");
  expect(
    verifyCertificate(cert, { fleetPublicKey: authority.publicKey, fleetId: "home", now: Date.now() }),
  ).toEqual({ ok: true });
  expect([cert.name, cert.role]).toEqual([name, role]);
  // The private keys on the card are the ones the certificate vouches for.
  const pub = (pem: string | undefined) =>
    Buffer.from(createPublicKey(createPrivateKey(pem ?? "")).export({ format: "jwk" }).x ?? "", "base64url");
  expect(pub(seed.identity?.signingKey).equals(Buffer.from(cert.signingKey))).toBe(true);
  expect(pub(seed.identity?.agreementKey).equals(Buffer.from(cert.agreementKey))).toBe(true);
  const fingerprint = formatFingerprint(certificateFingerprint(cert));
  return { seed, fingerprint };
}

test("init creates the fleet authority through the same code as kiana fleet init, and refuses to overwrite it", async () => {
  const first = await fleet("init", "--fleet", "home");
  expect(first.code).toBe(0);
  expect(first.out).toContain('Fleet "home" created');
  expect(existsSync(join(fleetDir, "fleet-authority.pem"))).toBe(true);
  const again = await fleet("init", "--fleet", "home");
  expect(again.code).toBe(1);
  expect(again.err).toContain("already exists");
});

describe.each(["dos", "gpt"] as const)("provision --out with a %s image", (label) => {
  test("each row gets its own image copy with its own identity and seed; a summary table follows", async () => {
    const image = buildTestImage(work, label);
    const original = readFileSync(image);
    const out = join(work, `out-${label}`);
    const inv = inventory([
      "hub,hub,static,192.168.1.10/24,192.168.1.1,,,,correct horse battery",
      `attic,node,dhcp,,,,,${KEY},`,
      "kitchen,satellite,dhcp,,,Home WiFi,a long passphrase,,",
    ]);
    const run = await fleet("provision", "--inventory", inv, "--image", image, "--out", out);
    expect(run.err).not.toContain("fleet:");
    expect(run.code).toBe(0);
    const lines = run.out.trim().split("\n");
    expect(lines[0]).toMatch(/^name\s+role\s+fingerprint\s+output\s+seconds$/);
    expect(lines).toHaveLength(4);
    expect(run.err).toContain("[3/3] kitchen: done in");

    const seen = new Set<string>();
    const expected: [string, string][] = [
      ["hub", "hub"],
      ["attic", "node"],
      ["kitchen", "satellite"],
    ];
    for (const [i, [name, role]] of expected.entries()) {
      const copy = join(out, `${name}.img`);
      const { seed, fingerprint } = expectEnrolled(copy, name, role);
      seen.add(fingerprint);
      // The summary row shows this card's fingerprint.
      expect((lines[i + 1] ?? "").split(/\s+/).slice(0, 3)).toEqual([name, role, fingerprint]);
      if (name === "hub") {
        expect(await Bun.password.verify("correct horse battery", seed.admin?.passwordHash ?? "")).toBe(true);
        expect(seed.network?.ethernets?.lan?.addresses).toEqual(["192.168.1.10/24"]);
      }
      if (name === "attic") expect(seed.user?.sshAuthorizedKeys).toEqual([KEY]);
      if (name === "kitchen")
        expect(Object.keys(seed.network?.wifis?.wlan0?.["access-points"] ?? {})).toEqual(["Home WiFi"]);
      // The firmware file is still there, and nothing outside the boot partition changed.
      expect(new TextDecoder().decode(readFatFile(copy, BOOT_START_SECTOR * 512, "config.txt"))).toContain(
        "arm_64bit=1",
      );
      const bytes = readFileSync(copy);
      const bootEnd = (BOOT_START_SECTOR + 16384) * 512;
      expect(Buffer.compare(bytes.subarray(bootEnd), original.subarray(bootEnd))).toBe(0);
      expect(
        Buffer.compare(
          bytes.subarray(0, BOOT_START_SECTOR * 512),
          original.subarray(0, BOOT_START_SECTOR * 512),
        ),
      ).toBe(0);
      expect(bytes.includes(Buffer.from("correct horse battery"))).toBe(false);
    }
    expect(seen.size).toBe(3);
    expect(readFileSync(join(fleetDir, "issued.csv"), "utf8")).toContain(",kitchen,satellite,");
    // The source image is not touched.
    expect(Buffer.compare(readFileSync(image), original)).toBe(0);

    const rerun = await fleet("provision", "--inventory", inv, "--image", image, "--out", out);
    expect(rerun.code).toBe(1);
    expect(rerun.err).toContain("already there");
  }, 30_000);
});

test("a bad row stops the run before anything is written", async () => {
  const image = buildTestImage(work);
  const out = join(work, "out-bad");
  const inv = inventory(["hub,hub,dhcp", "attic,node,dhcp", "kitchen,hubb,dhcp"]);
  const run = await fleet("provision", "--inventory", inv, "--image", image, "--out", out);
  expect(run.code).toBe(1);
  expect(run.err).toContain(`line 4: role 'hubb' is not hub, node or satellite`);
  expect(existsSync(out)).toBe(false);
});

test("an image without a FAT boot partition is refused before anything is written", async () => {
  const image = join(work, "blank.img");
  writeFileSync(image, new Uint8Array(1024 * 1024));
  const out = join(work, "out-blank");
  const run = await fleet("provision", "--inventory", inventory(["a,node"]), "--image", image, "--out", out);
  expect(run.code).toBe(1);
  expect(run.err).toContain("no partition table");
  expect(existsSync(out)).toBe(false);
});

describe("provision --device, with a regular file standing in for the card", () => {
  test("the image is written with progress, then the seed; the card boots as that one device", async () => {
    const image = buildTestImage(work);
    const card = join(work, "card.bin");
    // A used card: old bytes everywhere, larger than the image.
    writeFileSync(card, new Uint8Array(readFileSync(image).length + 4 * 1024 * 1024).fill(0xa5));
    const inv = inventory(["hub,hub", "kitchen,satellite"]);
    const ambiguous = await fleet("provision", "--inventory", inv, "--image", image, "--device", card);
    expect(ambiguous.code).toBe(64);
    expect(ambiguous.err).toContain("add --name (one of hub, kitchen)");

    const run = await fleet(
      "provision",
      "--inventory",
      inv,
      "--image",
      image,
      "--device",
      card,
      "--name",
      "kitchen",
    );
    expect(run.code).toBe(0);
    expect(run.err).toContain("[1/1] kitchen: writing image 0%");
    expect(run.err).toContain("[1/1] kitchen: writing image 100%");
    expect(run.out).toContain(card);
    expectEnrolled(card, "kitchen", "satellite");
    expect(readdirSync(work).filter((f) => f.startsWith("card"))).toEqual(["card.bin"]);
  }, 30_000);

  test("a missing device path is refused", async () => {
    const image = buildTestImage(work);
    const run = await fleet(
      "provision",
      "--inventory",
      inventory(["a,node"]),
      "--image",
      image,
      "--device",
      join(work, "nope"),
    );
    expect(run.code).toBe(1);
    expect(run.err).toContain("does not exist");
  });
});
