// Signed envelopes as the transfer's seal/open pair, and the short-lived HTTP authorisation: an
// envelope binding transfer id, requester (its signer), the serving node and an expiry.
import type { NodeKeys } from "../../identity/node-keys.ts";
import type { Clock } from "../../platform/clock.ts";
import { type OpenOptions, openEnvelope, sealEnvelope } from "../envelope.ts";
import { createMemoryReplayGuard, type ReplayGuard } from "../replay-guard.ts";
import type { Open, Seal } from "./ports.ts";

export interface EnvelopeAuthOptions {
  keys: Pick<NodeKeys, "sign" | "fingerprint">;
  /** This node's envelope sequence counter (persisted in production, see replay-guard.ts). */
  nextSeq: () => number;
  clock: Pick<Clock, "now">;
  open: Omit<OpenOptions, "now" | "replay">;
}

export interface EnvelopeAuth {
  seal: Seal;
  /**
   * An `open` with its own replay guard. Each channel (signalling, MQTT chunks, HTTP tokens) gets its
   * own, because envelopes on different channels may arrive out of their sealing order.
   */
  opener(replay?: ReplayGuard): Open;
}

export function createEnvelopeAuth(opts: EnvelopeAuthOptions): EnvelopeAuth {
  return {
    seal: (type, body) =>
      sealEnvelope({ keys: opts.keys, seq: opts.nextSeq(), now: opts.clock.now(), type, body }),
    opener(replay = createMemoryReplayGuard()) {
      return (bytes) => {
        const r = openEnvelope(bytes, { ...opts.open, now: opts.clock.now(), replay });
        if (!r.ok) return { ok: false, detail: `${r.reason}: ${r.detail}` };
        return { ok: true, from: r.envelope.from, type: r.envelope.type, body: r.envelope.body };
      };
    },
  };
}

export const HTTP_TOKEN_TYPE = "xfer.http";
export const HTTP_AUTH_SCHEME = "Kiana-Envelope";
/** Longer-lived tokens are refused, so a leaked one is only good for a short while. */
export const MAX_TOKEN_TTL_MS = 5 * 60_000;

interface TokenBody {
  id: string;
  /** Fingerprint of the node that serves the file: a token for one node is useless on another. */
  aud: string;
  exp: number;
}

/** The `Authorization` header value for one request of transfer `id` to node `audience`. */
export function mintHttpToken(seal: Seal, t: { id: string; audience: string; now: number; ttlMs: number }) {
  const body: TokenBody = { id: t.id, aud: t.audience, exp: t.now + t.ttlMs };
  const envelope = seal(HTTP_TOKEN_TYPE, new TextEncoder().encode(JSON.stringify(body)));
  return `${HTTP_AUTH_SCHEME} ${Buffer.from(envelope).toString("base64url")}`;
}

export type TokenVerdict = { ok: true; from: string } | { ok: false; status: 401 | 403; detail: string };

/** 401: no valid signature from an enrolled peer, or expired; 403: valid but not for this file or node. */
export function checkHttpToken(
  open: Open,
  header: string | null,
  want: { id: string; audience: string; now: number },
): TokenVerdict {
  if (!header) return { ok: false, status: 401, detail: "no authorization header" };
  const [scheme, value, extra] = header.trim().split(/\s+/);
  if (scheme !== HTTP_AUTH_SCHEME || !value || extra !== undefined)
    return { ok: false, status: 401, detail: `authorization must be "${HTTP_AUTH_SCHEME} <envelope>"` };
  const opened = open(new Uint8Array(Buffer.from(value, "base64url")));
  if (!opened.ok) return { ok: false, status: 401, detail: opened.detail };
  if (opened.type !== HTTP_TOKEN_TYPE)
    return { ok: false, status: 401, detail: `envelope type ${opened.type} is not ${HTTP_TOKEN_TYPE}` };
  let body: Partial<TokenBody>;
  try {
    body = JSON.parse(new TextDecoder().decode(opened.body)) as Partial<TokenBody>;
  } catch {
    return { ok: false, status: 401, detail: "token body is not JSON" };
  }
  if (typeof body.exp !== "number" || body.exp <= want.now)
    return { ok: false, status: 401, detail: "token expired" };
  if (body.exp - want.now > MAX_TOKEN_TTL_MS)
    return { ok: false, status: 401, detail: `token lifetime is over ${MAX_TOKEN_TTL_MS / 1000} s` };
  if (body.aud !== want.audience) return { ok: false, status: 403, detail: "token is for another node" };
  if (body.id !== want.id) return { ok: false, status: 403, detail: "token is for another transfer" };
  return { ok: true, from: opened.from };
}
