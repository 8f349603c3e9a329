import { afterEach, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { deviceEnrolment } from "../identity/fleet-cli.ts";
import {
  encodeCertificate,
  encodeFleetInfo,
  loadMembership,
  loadNodeKeys,
  parsePublicKeys,
} from "../identity/index.ts";
import { enrolNode, testFleet } from "../identity/test-fleet.test-helper.ts";
import type { AdminFleet } from "./fleet-routes.ts";
import { createHarness } from "./test-harness.test-helper.ts";

let h: ReturnType<typeof createHarness>;
afterEach(() => h?.close());

const NOW = Date.now();
const authority = testFleet("home", NOW);

/** The fleet part as src/cli/run.ts wires it: this data dir's keys and membership. */
const deviceFleet = (dataDir: string): AdminFleet =>
  deviceEnrolment({ dataDir, keys: loadNodeKeys({ dataDir }), now: () => NOW });

async function loggedIn() {
  h = createHarness({ fleet: deviceFleet });
  const page = await (await h.request("GET", "/setup")).text();
  const password = "correct horse battery";
  await h.request("POST", "/setup", {
    csrf: h.csrfFrom(page),
    code: "ABCD-EFGH",
    password,
    confirm: password,
  });
  const status = (await (await h.request("GET", "/api/v1/status")).json()) as {
    csrfToken: string;
    publicKeys: string;
    node: { fingerprint: string };
    enrolment: unknown;
  };
  const keys = loadNodeKeys({ dataDir: h.dataDir });
  // h.request sends forms only; JSON bodies go through app.handle with the session's cookie.
  const postJson = (body: string, headers: Record<string, string> = { "x-csrf-token": status.csrfToken }) =>
    h.app.handle(
      new Request("http://localhost/api/v1/fleet/join", {
        method: "POST",
        body,
        headers: {
          "content-type": "application/json",
          cookie: [...h.jar].map(([k, v]) => `${k}=${v}`).join("; "),
          ...headers,
        },
      }),
    );
  return { status, keys, postJson };
}

const joinBody = (certificate: string, fleetInfo = encodeFleetInfo(authority)) =>
  JSON.stringify({ certificate, fleetInfo });
const errorOf = async (res: Response) =>
  ((await res.json()) as { error: { code: string; message: string } }).error;

test("the status API gives the device's public keys, in the form `fleet enroll --pubkey` takes, only to a session", async () => {
  h = createHarness({ fleet: deviceFleet });
  expect((await h.request("GET", "/api/v1/status")).status).toBe(401);
  h.close();
  const { status, keys } = await loggedIn();
  const parsed = parsePublicKeys(status.publicKeys);
  expect(parsed.fingerprint).toBe(keys.fingerprint);
  expect(Buffer.from(parsed.agreementKey).equals(Buffer.from(keys.agreementPublicKey))).toBe(true);
  expect(status.enrolment).toBeNull();
});

test("joining needs a session and the CSRF token", async () => {
  h = createHarness({ fleet: deviceFleet });
  const node = enrolNode(authority, "kitchen", { now: NOW, keys: loadNodeKeys({ dataDir: h.dataDir }) });
  const body = joinBody(encodeCertificate(node.cert));
  const anonymous = await h.app.handle(
    new Request("http://localhost/api/v1/fleet/join", {
      method: "POST",
      body,
      headers: { "content-type": "application/json" },
    }),
  );
  expect(anonymous.status).toBe(401);
  h.close();
  const { postJson } = await loggedIn();
  const noToken = await postJson(body, {});
  expect(noToken.status).toBe(403);
  expect((await errorOf(noToken)).code).toBe("ADMIN_FORBIDDEN");
  expect(loadMembership(h.dataDir)).toBeNull();
});

test("a body that is not {certificate, fleetInfo} as text is refused with the expected shape", async () => {
  const { postJson } = await loggedIn();
  for (const body of ["not json", "{}", JSON.stringify({ certificate: {}, fleetInfo: "x" }), "null"]) {
    const res = await postJson(body);
    expect(res.status).toBe(400);
    const error = await errorOf(res);
    expect(error.code).toBe("ADMIN_BAD_REQUEST");
    expect(error.message).toContain('{"certificate"');
  }
  const garbled = await postJson(joinBody("{not a cert"));
  expect(garbled.status).toBe(400);
  expect(await errorOf(garbled)).toMatchObject({ code: "IDENTITY_CERT_INVALID" });
  expect(existsSync(join(h.dataDir, "fleet"))).toBe(false);
});

test("a certificate for another device, an expired one or one the fleet did not sign is refused, naming why", async () => {
  const { postJson, keys } = await loggedIn();
  const stranger = enrolNode(authority, "kitchen", { now: NOW });
  const other = await postJson(joinBody(encodeCertificate(stranger.cert)));
  expect(other.status).toBe(400);
  expect((await errorOf(other)).message).toContain("issued for other keys than this device's");

  const old = enrolNode(authority, "kitchen", { keys, now: NOW - 400 * 86_400_000, validDays: 30 });
  const expired = await postJson(joinBody(encodeCertificate(old.cert)));
  expect(expired.status).toBe(400);
  const why = await errorOf(expired);
  expect(why.code).toBe("IDENTITY_CERT_INVALID");
  expect(why.message).toContain("expired at");

  // Same fleet id, another authority key: the certificate's signature does not check out.
  const impostor = testFleet("home", NOW);
  const forged = enrolNode(impostor, "kitchen", { keys, now: NOW });
  const wrongFleet = await postJson(joinBody(encodeCertificate(forged.cert)));
  expect(wrongFleet.status).toBe(400);
  expect((await errorOf(wrongFleet)).message).toContain("not signed by this fleet's authority key");

  expect(loadMembership(h.dataDir)).toBeNull();
});

test("the device's own certificate is stored and answered with the membership and a restart notice", async () => {
  const { postJson, keys, status } = await loggedIn();
  const node = enrolNode(authority, "kitchen", { keys, role: "satellite", now: NOW });
  const res = await postJson(joinBody(encodeCertificate(node.cert)));
  expect(res.status).toBe(200);
  const answer = (await res.json()) as { membership: Record<string, unknown>; restartRequired: boolean };
  expect(answer.membership).toEqual({
    fleetId: "home",
    name: "kitchen",
    role: "satellite",
    fingerprint: keys.fingerprint,
    expiresAt: node.cert.expiresAt,
  });
  expect(answer.restartRequired).toBe(true);
  // What `kiana run` reads at its next start, and what status shows from now on.
  expect(loadMembership(h.dataDir)?.certificate.name).toBe("kitchen");
  const after = (await (await h.request("GET", "/api/v1/status")).json()) as { enrolment: unknown };
  expect(after.enrolment).toEqual(answer.membership);
  expect(h.audit.recent(5).map((e) => e.action)).toContain("fleet.join");
  expect(status.node.fingerprint).toBe("00ff"); // the harness's status; the keys come from the fleet part
});

test("without the fleet part the route answers 503 and status leaves the keys out", async () => {
  h = createHarness();
  const page = await (await h.request("GET", "/setup")).text();
  const password = "correct horse battery";
  await h.request("POST", "/setup", {
    csrf: h.csrfFrom(page),
    code: "ABCD-EFGH",
    password,
    confirm: password,
  });
  const status = (await (await h.request("GET", "/api/v1/status")).json()) as Record<string, unknown>;
  expect(status.publicKeys).toBeUndefined();
  const res = await h.app.handle(
    new Request("http://localhost/api/v1/fleet/join", {
      method: "POST",
      body: "{}",
      headers: {
        cookie: [...h.jar].map(([k, v]) => `${k}=${v}`).join("; "),
        "x-csrf-token": String(status.csrfToken),
      },
    }),
  );
  expect(res.status).toBe(503);
});
