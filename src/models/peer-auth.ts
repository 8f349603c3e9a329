// How a peer proves a forwarded model request comes from an enrolled device: the mesh's short-lived
// signed HTTP token (id "models", addressed to the serving node), checked once per request.

import { DEFAULT_MAX_SKEW_MS, type ReplayGuard } from "../mesh/replay-guard.ts";
import { checkHttpToken, mintHttpToken } from "../mesh/transfer/auth.ts";
import type { Open, Seal } from "../mesh/transfer/ports.ts";

export const PEER_TOKEN_ID = "models";
/** Only needs to outlive the trip to the peer: the token is checked before the answer starts. */
export const PEER_TOKEN_TTL_MS = 60_000;
const MAX_SEEN_PER_SENDER = 4096;

/** The `Authorization` value for one forwarded request to the node with fingerprint `audience`. */
export function peerToken(seal: Seal, audience: string, now: number): string {
  return mintHttpToken(seal, { id: PEER_TOKEN_ID, audience, now, ttlMs: PEER_TOKEN_TTL_MS });
}

/**
 * A replay guard for tokens on parallel HTTP requests: a peer's requests race each other on separate
 * connections, so a token sealed later may arrive first. Any sequence not seen yet is accepted; a
 * seen one is forgotten once its timestamp is outside the clock window (the skew check refuses it
 * from then on), so memory stays bounded by the request rate.
 */
export function createWindowReplayGuard(): ReplayGuard {
  const senders = new Map<string, { floor: number; seen: Map<number, number> }>();
  let checked: { from: string; seq: number; ts: number } | undefined;
  return {
    check(from, seq, ts, now, maxSkewMs = DEFAULT_MAX_SKEW_MS) {
      if (Math.abs(ts - now) > maxSkewMs)
        return {
          ok: false,
          reason: "clock-skew",
          detail: `timestamp is ${Math.round((ts - now) / 1000)} s off`,
        };
      const s = senders.get(from);
      if (s) for (const [n, at] of s.seen) if (Math.abs(at - now) > maxSkewMs) s.seen.delete(n);
      if (s && (seq <= s.floor || s.seen.has(seq)))
        return { ok: false, reason: "replay", detail: `seq ${seq} was used already` };
      checked = { from, seq, ts };
      return { ok: true };
    },
    accept(from, seq) {
      const s = senders.get(from) ?? { floor: -1, seen: new Map<number, number>() };
      senders.set(from, s);
      s.seen.set(seq, checked?.from === from && checked.seq === seq ? checked.ts : Date.now());
      // A flood of tokens cannot grow the set without bound: the oldest become a floor instead.
      while (s.seen.size > MAX_SEEN_PER_SENDER) {
        const lowest = Math.min(...s.seen.keys());
        s.seen.delete(lowest);
        s.floor = Math.max(s.floor, lowest);
      }
    },
  };
}

/** Checks an `Authorization` header as a peer token addressed to this node; true when valid. */
export function createPeerTokenCheck(o: {
  open: Open;
  audience: () => string;
  now: () => number;
}): (authorization: string | null) => boolean {
  return (authorization) =>
    checkHttpToken(o.open, authorization, { id: PEER_TOKEN_ID, audience: o.audience(), now: o.now() }).ok;
}
