// `fleet adopt`: devices booted without a seed, found on the LAN and taken over through the admin
// page's own first-run flow (setup code → admin password), then issued a certificate. The runtime
// has no HTTP endpoint that reveals a device's agreement key or accepts a certificate, so the last
// step (`kiana fleet join` on the device) stays with the operator: see provisioning/README.md.
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { MIN_PASSWORD_LENGTH } from "../src/admin/accounts.ts";
import {
  encodeCertificate,
  encodeFleetInfo,
  formatFingerprint,
  issueCertificate,
  loadFleetAuthority,
  parsePublicKeys,
  type Role,
} from "../src/identity/index.ts";
import { recordIssued } from "./device-identity.ts";
import { provisionError } from "./errors.ts";
import type { FleetIo } from "./fleet.ts";
import { adminUrl, browseKiana } from "./lan-discovery.ts";
import { formatTable } from "./provision.ts";

const fail = (message: string) => provisionError("PROVISION_ADOPT_FAILED", message);

/** A tiny cookie-keeping client for one device's admin page; redirects are read, not followed. */
function adminClient(base: string) {
  const jar = new Map<string, string>();
  return async (path: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    headers.set("cookie", [...jar].map(([k, v]) => `${k}=${v}`).join("; "));
    const res = await fetch(new URL(path, base), {
      ...init,
      headers,
      redirect: "manual",
      signal: AbortSignal.timeout(15_000),
    }).catch((err: Error) => {
      throw fail(`cannot reach ${base}: ${err.message}`);
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair = ""] = c.split(";");
      const eq = pair.indexOf("=");
      jar.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    return res;
  };
}

/** Whether the device at `url` still waits for its first admin password. */
export async function awaitsSetup(url: string): Promise<"awaiting setup" | "set up" | "unreachable"> {
  try {
    const res = await fetch(new URL("/setup", url), {
      redirect: "manual",
      signal: AbortSignal.timeout(5000),
    });
    return res.status === 200 ? "awaiting setup" : "set up";
  } catch {
    return "unreachable";
  }
}

/** Runs the admin page's first-run form with the code; returns what /api/v1/status says afterwards. */
export async function setUpAdmin(url: string, code: string, password: string) {
  const call = adminClient(url);
  const page = await call("/setup");
  if (page.status !== 200)
    throw fail(
      `${url} is already set up (GET /setup answered ${page.status}); adopt takes devices awaiting setup`,
    );
  const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())?.[1];
  if (!csrf) throw fail(`${url}/setup has no setup form; is this a kiana device?`);
  const res = await call("/setup", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ csrf, code, password, confirm: password }),
  });
  // Success is a redirect to the overview (303); a refusal re-renders the form with its reason.
  if (res.status < 300 || res.status >= 400) {
    // The page's own error sentence says why (wrong code, rate limit, password rule).
    const why = /class="error"[^>]*>([^<]+)</.exec(await res.text())?.[1] ?? `HTTP ${res.status}`;
    throw fail(`the device refused the setup: ${why}`);
  }
  const status = await call("/api/v1/status");
  if (!status.ok) throw fail(`setup went through but /api/v1/status answered ${status.status}`);
  return (
    (await status.json()) as { node: { name: string; role: string; fleet: string; fingerprint: string } }
  ).node;
}

function readPassword(file: string | undefined, env: Record<string, string | undefined>): string {
  let password = env.KIANA_ADMIN_PASSWORD;
  if (file) {
    try {
      password = readFileSync(file, "utf8").replace(/\r?\n$/, "");
    } catch (err) {
      throw provisionError(
        "PROVISION_USAGE",
        `cannot read --password-file ${file}: ${(err as Error).message}`,
      );
    }
  }
  if (!password)
    throw provisionError(
      "PROVISION_USAGE",
      "give the new admin password in --password-file FILE or $KIANA_ADMIN_PASSWORD",
    );
  if (password.length < MIN_PASSWORD_LENGTH)
    throw provisionError(
      "PROVISION_USAGE",
      `the admin password needs at least ${MIN_PASSWORD_LENGTH} characters`,
    );
  return password;
}

type Flags = Partial<
  Record<"url" | "code" | "name" | "role" | "password-file" | "pubkey" | "out" | "wait", string>
>;

export async function runAdopt(flags: Flags, ctx: { dir: string; io: FleetIo }): Promise<number> {
  const { io, dir } = ctx;
  const authority = loadFleetAuthority(dir);
  if (!flags.url) {
    const wait = Number(flags.wait ?? "3");
    if (!(wait > 0 && wait <= 60)) throw provisionError("PROVISION_USAGE", "--wait must be 1 to 60 seconds");
    const found = await browseKiana(wait * 1000);
    const rows = await Promise.all(
      found.map(async (s) => {
        const url = adminUrl(s);
        const state =
          s.txt.fleet === authority.fleetId ? "member" : url ? await awaitsSetup(url) : "no address";
        return [s.instance, url ?? "-", s.txt.role ?? "-", s.txt.fleet ?? "-", s.txt.fp ?? "-", state];
      }),
    );
    io.out(
      rows.length === 0
        ? "no kiana devices answered over mDNS\n"
        : formatTable([["device", "url", "role", "fleet", "fingerprint", "state"], ...rows]),
    );
    return 0;
  }
  const need = (k: keyof Flags) => {
    const v = flags[k];
    if (!v) throw provisionError("PROVISION_USAGE", `adopt --url needs --${k}`);
    return v;
  };
  const [code, name, role] = [need("code"), need("name"), need("role")];
  const keys = flags.pubkey ? parsePublicKeys(flags.pubkey) : undefined;
  const password = readPassword(flags["password-file"], io.env);
  // Checked before the device is touched, so a typo costs no setup code.
  const certificate = keys
    ? issueCertificate(authority, {
        name,
        role: role as Role,
        signingKey: keys.signingKey,
        agreementKey: keys.agreementKey,
        validDays: 365,
        now: Date.now(),
      })
    : undefined;
  const node = await setUpAdmin(flags.url, code, password);
  io.out(
    `${flags.url}: admin password set (device ${node.name}, ${node.role}, fingerprint ${node.fingerprint})\n`,
  );
  if (!keys || !certificate) {
    io.out(
      "Not enrolled: the device does not serve its public keys over HTTP. Run `kiana status` on it and\n" +
        "adopt again with --pubkey '<the ed25519:…;x25519:… line>' (its setup is done, so use `kiana fleet enroll`).\n",
    );
    return 0;
  }
  // The keys line came from the operator: it must be this device's, or we would enrol another one.
  if (formatFingerprint(keys.fingerprint) !== node.fingerprint)
    throw fail(
      `--pubkey has fingerprint ${formatFingerprint(keys.fingerprint)} but ${flags.url} is ${node.fingerprint}; no certificate issued`,
    );
  const out = resolve(flags.out ?? ".");
  const certFile = join(out, `${name}.cert`);
  writeFileSync(certFile, encodeCertificate(certificate));
  writeFileSync(join(out, "fleet.json"), encodeFleetInfo(authority));
  recordIssued(dir, {
    name,
    role,
    serial: certificate.serial,
    fingerprint: node.fingerprint,
    output: certFile,
    at: Date.now(),
  });
  io.out(
    `Certificate for ${name} (${role}) written to ${certFile}.\n` +
      `Copy it and ${join(out, "fleet.json")} to the device and run there:\n` +
      `  kiana fleet join --cert ${name}.cert --fleet-info fleet.json\n`,
  );
  return 0;
}
