// `fleet adopt`: devices booted without a seed, found on the LAN and taken over through the admin
// page's own first-run flow (setup code → admin password), then enrolled over the same session:
// their public keys from /api/v1/status, a certificate from the fleet authority, POST /api/v1/fleet/join.
import { readFileSync } from "node:fs";
import { MIN_PASSWORD_LENGTH } from "../src/admin/accounts.ts";
import { type AdminCall, createCookieClient } from "../src/admin/cookie-client.ts";
import { ROLES } from "../src/identity/enrolment.ts";
import type { JoinedFleet } from "../src/identity/fleet-cli.ts";
import {
  type Certificate,
  encodeCertificate,
  encodeFleetInfo,
  type FleetAuthority,
  formatFingerprint,
  issueCertificate,
  loadFleetAuthority,
  parsePublicKeys,
  type Role,
} from "../src/identity/index.ts";
import { recordIssued } from "./device-identity.ts";
import { provisionError } from "./errors.ts";
import type { FleetIo } from "./fleet.ts";
import { adminUrl, browseKiana, deviceState } from "./lan-discovery.ts";
import { formatTable } from "./provision.ts";

const fail = (message: string) => provisionError("PROVISION_ADOPT_FAILED", message);

/** The admin page's own client, with an unreachable device named in the error. */
function adminClient(base: string): AdminCall {
  const call = createCookieClient(base, 15_000);
  return (path, init) =>
    call(path, init).catch((err: Error) => {
      throw fail(`cannot reach ${base}: ${err.message}`);
    });
}

/** What adopt reads from /api/v1/status; `publicKeys` and `enrolment` need a runtime with enrolment over HTTP. */
export interface DeviceStatus {
  node: { name: string; role: string; fleet: string; fingerprint: string };
  publicKeys?: string;
  enrolment?: JoinedFleet | null;
  csrfToken?: string;
}

async function readStatus(call: AdminCall, url: string): Promise<DeviceStatus> {
  const res = await call("/api/v1/status");
  if (!res.ok) throw fail(`${url} answered ${res.status} to GET /api/v1/status`);
  return (await res.json()) as DeviceStatus;
}

/** Runs the admin page's first-run form with the code; returns the logged-in client and its status. */
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
  return { call, status: await readStatus(call, url) };
}

/** Sends the certificate over the admin session; the device checks it exactly as `kiana fleet join` does. */
async function joinOverHttp(
  call: AdminCall,
  url: string,
  csrfToken: string,
  certificate: Certificate,
  authority: FleetAuthority,
): Promise<{ membership: JoinedFleet; restartRequired: boolean }> {
  const res = await call("/api/v1/fleet/join", {
    method: "POST",
    headers: { "content-type": "application/json", "x-csrf-token": csrfToken },
    body: JSON.stringify({
      certificate: encodeCertificate(certificate),
      fleetInfo: encodeFleetInfo(authority),
    }),
  });
  const body = (await res.json().catch(() => ({}))) as {
    membership?: JoinedFleet;
    restartRequired?: boolean;
    error?: { message?: string };
  };
  if (!res.ok || !body.membership)
    throw fail(
      `${url} refused the certificate (HTTP ${res.status}): ${body.error?.message ?? "no reason given"}`,
    );
  return { membership: body.membership, restartRequired: body.restartRequired !== false };
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

type Flags = Partial<Record<"url" | "code" | "name" | "role" | "password-file" | "pubkey" | "wait", string>>;

async function listDevices(fleetId: string, wait: number, io: FleetIo): Promise<number> {
  const found = await browseKiana(wait * 1000);
  const rows = found.map((s) => [
    s.instance,
    adminUrl(s) ?? "-",
    s.txt.role ?? "-",
    s.txt.fleet ?? "-",
    s.txt.fp ?? "-",
    deviceState(s, fleetId),
  ]);
  io.out(
    rows.length === 0
      ? "no kiana devices answered over mDNS\n"
      : formatTable([["device", "url", "role", "fleet", "fingerprint", "state"], ...rows]),
  );
  return 0;
}

export async function runAdopt(flags: Flags, ctx: { dir: string; io: FleetIo }): Promise<number> {
  const { io, dir } = ctx;
  const authority = loadFleetAuthority(dir);
  if (!flags.url) {
    const wait = Number(flags.wait ?? "3");
    if (!(wait > 0 && wait <= 60)) throw provisionError("PROVISION_USAGE", "--wait must be 1 to 60 seconds");
    return listDevices(authority.fleetId, wait, io);
  }
  const url = flags.url;
  const need = (k: keyof Flags) => {
    const v = flags[k];
    if (!v) throw provisionError("PROVISION_USAGE", `adopt --url needs --${k}`);
    return v;
  };
  const [code, name, role] = [need("code"), need("name"), need("role")];
  // Checked before the device is touched, so a typo costs no setup code.
  if (!(ROLES as readonly string[]).includes(role))
    throw provisionError("PROVISION_USAGE", `--role must be one of ${ROLES.join(", ")}, not ${role}`);
  const expected = flags.pubkey ? parsePublicKeys(flags.pubkey) : undefined;
  const password = readPassword(flags["password-file"], io.env);

  const { call, status } = await setUpAdmin(url, code, password);
  io.out(`${url}: admin password set (device ${status.node.name}, fingerprint ${status.node.fingerprint})\n`);
  if (!status.publicKeys || !status.csrfToken)
    throw fail(
      `${url} does not serve its public keys in /api/v1/status (a kiana without enrolment over HTTP); ` +
        "its setup is done: enrol it with `kiana fleet enroll` and `kiana fleet join` on the device",
    );
  const keys = parsePublicKeys(status.publicKeys);
  // The keys must be those of the device we just set up, and those the operator expected if given.
  if (formatFingerprint(keys.fingerprint) !== status.node.fingerprint)
    throw fail(
      `${url} serves keys of fingerprint ${formatFingerprint(keys.fingerprint)} but says it is ${status.node.fingerprint}; no certificate issued`,
    );
  if (expected && expected.fingerprint !== keys.fingerprint)
    throw fail(
      `--pubkey has fingerprint ${formatFingerprint(expected.fingerprint)} but ${url} is ${status.node.fingerprint}; no certificate issued`,
    );
  if (expected && !Buffer.from(expected.agreementKey).equals(Buffer.from(keys.agreementKey)))
    throw fail(`--pubkey has another x25519 key than ${url} serves; no certificate issued`);

  const certificate = issueCertificate(authority, {
    name,
    role: role as Role,
    signingKey: keys.signingKey,
    agreementKey: keys.agreementKey,
    validDays: 365,
    now: Date.now(),
  });
  const joined = await joinOverHttp(call, url, status.csrfToken, certificate, authority);
  // The device's own record of what it stored, read back over the session.
  const after = (await readStatus(call, url)).enrolment;
  const matches = (m: JoinedFleet | null | undefined) =>
    m?.fleetId === authority.fleetId &&
    m.name === name &&
    m.role === role &&
    m.fingerprint === keys.fingerprint;
  if (!matches(joined.membership) || !matches(after))
    throw fail(
      `${url} accepted the certificate but reports ${JSON.stringify(after ?? joined.membership)}; check it with \`kiana status\``,
    );
  recordIssued(dir, {
    name,
    role,
    serial: certificate.serial,
    fingerprint: status.node.fingerprint,
    output: url,
    at: Date.now(),
  });
  io.out(
    formatTable([
      ["device", "url", "role", "fleet", "fingerprint", "certificate until"],
      [
        name,
        url,
        role,
        authority.fleetId,
        status.node.fingerprint,
        new Date(certificate.expiresAt).toISOString(),
      ],
    ]) +
      (joined.restartRequired
        ? `Enrolled. Restart kiana on the device (systemctl restart kiana) for its mesh to use the certificate.\n`
        : "Enrolled.\n"),
  );
  return 0;
}
