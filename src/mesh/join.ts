// Joining the hub's broker: the device POSTs its certificate inside a signed envelope to the hub's
// /api/v1/mesh/join; the hub checks it against the fleet key, admits the device and answers with
// its own certificate. Each side then derives the device's broker password (broker-credentials.ts).
import {
  type Certificate,
  certificateFingerprint,
  decodeCertificate,
  encodeCertificate,
  verifyCertificate,
} from "../identity/enrolment.ts";
import type { FleetInfo } from "../identity/fleet-authority.ts";
import type { NodeKeys } from "../identity/node-keys.ts";
import { brokerPassword } from "./broker-credentials.ts";
import { decodeEnvelope, openEnvelope, sealEnvelope } from "./envelope.ts";
import type { ReplayGuard } from "./replay-guard.ts";

export const JOIN_PATH = "/api/v1/mesh/join";
const JOIN_TYPE = "join";

export interface JoinAnswer {
  hubCertificate: string;
  brokerPort: number;
}

export interface HubJoinOptions {
  fleet: FleetInfo;
  revoked: ReadonlySet<string>;
  replay: ReplayGuard;
  now: () => number;
  hubCertificate: Certificate;
  brokerPort: number;
  admit(cert: Certificate): void;
  onRefused(from: string | undefined, reason: string, detail: string): void;
}

/** The hub's side: a pure request → answer function, mounted by the admin app. */
export function handleJoin(body: Uint8Array, opts: HubJoinOptions): { status: number; json: unknown } {
  const refuse = (status: number, reason: string, detail: string, from?: string) => {
    opts.onRefused(from, reason, detail);
    return { status, json: { error: { code: "MESH_JOIN_REFUSED", message: `${reason}: ${detail}` } } };
  };
  const decoded = decodeEnvelope(body);
  if (!decoded.ok) return refuse(400, "malformed", decoded.detail);
  let cert: Certificate;
  try {
    cert = decodeCertificate(new TextDecoder().decode(decoded.envelope.body));
  } catch (err) {
    return refuse(
      400,
      "malformed",
      `join body is not a certificate: ${(err as Error).message}`,
      decoded.envelope.from,
    );
  }
  const fp = certificateFingerprint(cert);
  const opened = openEnvelope(body, {
    roster: (f) => (f === fp ? cert : undefined),
    fleetPublicKey: opts.fleet.publicKey,
    fleetId: opts.fleet.fleetId,
    revoked: opts.revoked,
    now: opts.now(),
    replay: opts.replay,
  });
  if (!opened.ok) return refuse(403, opened.reason, opened.detail, opened.from);
  if (opened.envelope.type !== JOIN_TYPE)
    return refuse(400, "malformed", `type ${opened.envelope.type} is not join`, fp);
  opts.admit(cert);
  const answer: JoinAnswer = {
    hubCertificate: encodeCertificate(opts.hubCertificate),
    brokerPort: opts.brokerPort,
  };
  return { status: 200, json: answer };
}

export interface BrokerLogin {
  host: string;
  port: number;
  username: string;
  password: string;
  hub: Certificate;
}

/** The device's side: asks the hub at `hubUrl` to admit it and returns its broker login. */
export async function joinHub(opts: {
  hubUrl: string;
  keys: Pick<NodeKeys, "sign" | "fingerprint" | "agree">;
  certificate: Certificate;
  fleet: FleetInfo;
  seq: number;
  now: () => number;
  fetch?: typeof fetch;
  timeoutMs?: number;
}): Promise<BrokerLogin> {
  const body = sealEnvelope({
    keys: opts.keys,
    seq: opts.seq,
    now: opts.now(),
    type: JOIN_TYPE,
    body: new TextEncoder().encode(encodeCertificate(opts.certificate)),
  });
  const url = new URL(JOIN_PATH, opts.hubUrl);
  const res = await (opts.fetch ?? fetch)(url, {
    method: "POST",
    headers: { "content-type": "application/octet-stream" },
    body,
    signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
  });
  const json = (await res.json().catch(() => null)) as (JoinAnswer & { error?: { message: string } }) | null;
  if (!res.ok || !json)
    throw new Error(
      `the hub at ${url.origin} refused to admit this device: ${json?.error?.message ?? `HTTP ${res.status}`}`,
    );
  const hub = decodeCertificate(json.hubCertificate);
  const verdict = verifyCertificate(hub, {
    fleetPublicKey: opts.fleet.publicKey,
    fleetId: opts.fleet.fleetId,
    now: opts.now(),
  });
  if (!verdict.ok)
    throw new Error(
      `the hub at ${url.origin} showed a certificate that is not valid: ${verdict.reason} (${verdict.detail})`,
    );
  if (hub.role !== "hub")
    throw new Error(`the device at ${url.origin} is enrolled as ${hub.role}, not as a hub`);
  if (!Number.isInteger(json.brokerPort) || json.brokerPort < 1 || json.brokerPort > 65535) {
    throw new Error(`the hub at ${url.origin} named an invalid broker port ${json.brokerPort}`);
  }
  return {
    host: url.hostname,
    port: json.brokerPort,
    username: opts.certificate.name,
    password: brokerPassword({
      ownKeys: opts.keys,
      peerAgreementKey: hub.agreementKey,
      deviceFp: opts.keys.fingerprint,
      hubFp: certificateFingerprint(hub),
    }),
    hub,
  };
}
