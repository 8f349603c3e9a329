// The enrolment part of the admin API: this device's public keys and membership for
// /api/v1/status, and POST /api/v1/fleet/join, which stores a certificate the way `kiana fleet join` does.
import { describeError, isKianaError } from "../errors.ts";
import type { JoinedFleet } from "../identity/fleet-cli.ts";
import type { AuditLog } from "../security/index.ts";
import { jsonError, jsonResponse } from "./http.ts";

/** What the composition root hands the admin app about this device's fleet membership. */
export interface AdminFleet {
  /** This device's public keys, the line `kiana fleet enroll --pubkey` accepts. */
  publicKeys: string;
  /** The stored membership, read on request; null before the device has joined. */
  enrolment(): JoinedFleet | null;
  /** Verifies and stores a certificate: `joinThisDevice`. Throws IDENTITY_* errors naming the problem. */
  join(certificateText: string, fleetInfoText: string): JoinedFleet;
}

/** Certificates and fleet.json are a few hundred bytes; anything much larger is not one. */
const MAX_BODY_CHARS = 64 * 1024;

const USAGE = 'the body must be JSON: {"certificate": "<the .cert text>", "fleetInfo": "<fleet.json text>"}';

export function createFleetRoutes(opts: {
  fleet?: AdminFleet;
  audit: AuditLog;
  clientKey(request: Request): string;
}) {
  const { fleet, audit } = opts;
  return {
    /** Added to /api/v1/status: public keys are not secret, but stay behind the login with the rest. */
    statusFields(): { publicKeys?: string; enrolment?: JoinedFleet | null } {
      if (!fleet) return {};
      let enrolment: JoinedFleet | null = null;
      try {
        enrolment = fleet.enrolment();
      } catch {
        // An unreadable certificate is reported by the mesh's health entry; status still answers.
      }
      return { publicKeys: fleet.publicKeys, enrolment };
    },

    /** POST /api/v1/fleet/join; the app checks the session and CSRF token first. */
    async join(request: Request): Promise<Response> {
      if (!fleet) return jsonError(503, "ADMIN_BAD_REQUEST", "enrolment over HTTP is not available here");
      const text = await request.text().catch(() => "");
      if (text.length > MAX_BODY_CHARS) return jsonError(413, "ADMIN_BAD_REQUEST", "the body is over 64 KiB");
      let body: { certificate?: unknown; fleetInfo?: unknown } | undefined;
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        return jsonError(400, "ADMIN_BAD_REQUEST", USAGE);
      }
      if (typeof body?.certificate !== "string" || typeof body.fleetInfo !== "string")
        return jsonError(400, "ADMIN_BAD_REQUEST", USAGE);
      let joined: JoinedFleet;
      try {
        joined = fleet.join(body.certificate, body.fleetInfo);
      } catch (err) {
        if (isKianaError(err) && err.code.startsWith("IDENTITY_"))
          return jsonError(400, err.code, describeError(err));
        throw err;
      }
      audit.append({
        actor: opts.clientKey(request),
        action: "fleet.join",
        detail: `${joined.name} (${joined.role}) in fleet ${joined.fleetId}`,
      });
      // The mesh and the chain read the membership once at start (src/cli/mesh-start.ts).
      return jsonResponse({
        membership: joined,
        restartRequired: true,
        message: `Joined fleet "${joined.fleetId}" as ${joined.name} (${joined.role}). Restart kiana for the mesh to use it.`,
      });
    },
  };
}
