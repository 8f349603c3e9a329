// Who is enrolled: certificates that devices publish (retained) under their node topic, each checked
// against the fleet key before it is trusted. Envelopes are verified against this roster.
import {
  type Certificate,
  certificateFingerprint,
  createCertificateCache,
  decodeCertificate,
  encodeCertificate,
  verifyCertificate,
} from "../identity/enrolment.ts";
import type { FleetInfo } from "../identity/fleet-authority.ts";
import type { MessageTransport } from "./ports.ts";
import type { RefusalReason } from "./refusals.ts";
import { fleetPattern, nodeTopic } from "./topics.ts";

export interface Roster {
  /** Adds a certificate if it is valid for this fleet now; returns why not otherwise. */
  add(cert: Certificate): { ok: true } | { ok: false; reason: string };
  get(fingerprint: string): Certificate | undefined;
  byName(name: string): Certificate | undefined;
  list(): Certificate[];
  /** Publishes our certificate (retained) and follows everyone else's. */
  attach(transport: MessageTransport, own: Certificate): Promise<() => Promise<void>>;
  readonly cache: ReturnType<typeof createCertificateCache>;
}

const MAX_ENTRIES = 4096;

export function createRoster(opts: {
  fleet: FleetInfo;
  revoked: ReadonlySet<string>;
  now: () => number;
  onRefused?: (from: string | undefined, reason: RefusalReason, detail: string) => void;
  onChange?: () => void;
}): Roster {
  const byFp = new Map<string, Certificate>();
  const cache = createCertificateCache();
  const add = (cert: Certificate) => {
    const verdict = verifyCertificate(cert, {
      fleetPublicKey: opts.fleet.publicKey,
      fleetId: opts.fleet.fleetId,
      revoked: opts.revoked,
      now: opts.now(),
      cache,
    });
    if (!verdict.ok) return { ok: false as const, reason: `${verdict.reason}: ${verdict.detail}` };
    const fp = certificateFingerprint(cert);
    const known = byFp.get(fp);
    if (known && known.expiresAt >= cert.expiresAt) return { ok: true as const };
    // A renamed or re-enrolled device replaces its old entry by name.
    for (const [oldFp, c] of byFp) if (c.name === cert.name && oldFp !== fp) byFp.delete(oldFp);
    if (byFp.size >= MAX_ENTRIES) return { ok: false as const, reason: "roster is full" };
    byFp.set(fp, cert);
    opts.onChange?.();
    return { ok: true as const };
  };
  return {
    cache,
    add,
    get: (fp) => byFp.get(fp),
    byName: (name) => [...byFp.values()].find((c) => c.name === name),
    list: () => [...byFp.values()],
    async attach(transport, own) {
      add(own);
      await transport.publish(
        nodeTopic(opts.fleet.fleetId, own.name, "certificate"),
        new TextEncoder().encode(encodeCertificate(own)),
        {
          qos: 1,
          retain: true,
        },
      );
      return transport.subscribe(fleetPattern(opts.fleet.fleetId, "+", "certificate"), (topic, payload) => {
        try {
          const cert = decodeCertificate(new TextDecoder().decode(payload));
          const node = topic.split("/")[3];
          if (cert.name !== node) {
            opts.onRefused?.(
              undefined,
              "unknown-sender",
              `certificate for ${cert.name} published under ${node}`,
            );
            return;
          }
          const r = add(cert);
          if (!r.ok) opts.onRefused?.(certificateFingerprint(cert), "unknown-sender", r.reason);
        } catch (err) {
          opts.onRefused?.(undefined, "malformed", `certificate on ${topic}: ${(err as Error).message}`);
        }
      });
    },
  };
}
