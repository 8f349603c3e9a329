// The peer table: which fleet devices were heard from, and how healthy each looks. State is derived
// from the time since the last heartbeat, so a peer that goes silent degrades and fails by itself.
import { type Certificate, certificateFingerprint, type Role } from "../identity/enrolment.ts";
import type { Clock } from "../platform/clock.ts";

export type PeerState = "healthy" | "degraded" | "failed";

/** A model a peer offers over its OpenAI-compatible API, as its heartbeat advertises it. */
export interface PeerModel {
  name: string;
  /** Resident in memory now: a request will not wait for a load (or find it does not fit). */
  loaded: boolean;
  /** Generation speed the peer measured on its own recent answers. */
  tokensPerSecond?: number;
}

export interface PeerInfo {
  addresses?: string[];
  version?: string;
  rttMs?: number;
  adminPort?: number;
  models?: PeerModel[];
}

export interface Peer extends PeerInfo {
  fingerprint: string;
  name: string;
  role: Role;
  state: PeerState;
  /** Wall-clock ms of the last heartbeat, for display. */
  lastSeen: number;
}

export interface PeerTableOptions {
  clock: Clock;
  /** The heartbeat interval peers use. Default 10 s. */
  intervalMs?: number;
  /** Heartbeats missed before a peer is degraded. Default 2. */
  degradedAfterMissed?: number;
  /** Heartbeats missed before a peer is failed. Default 5. */
  failedAfterMissed?: number;
}

export type PeerChange = (peer: Peer, previous: PeerState | undefined) => void;

export interface PeerTable {
  heard(cert: Certificate, info?: PeerInfo): void;
  get(fingerprint: string): Peer | undefined;
  /** Sorted by name. */
  list(): Peer[];
  /** Called when a peer first appears and whenever its state changes; returns an unsubscribe. */
  onChange(fn: PeerChange): () => void;
  /** Forgets peers silent for longer than olderThanMs; returns their fingerprints. */
  prune(olderThanMs: number): string[];
  /** Cancels the timers that report silent peers. */
  stop(): void;
}

/** Pure: the state of a peer silent for `silentMs`. A heartbeat is missed once a whole interval passed. */
export function peerState(
  silentMs: number,
  opts: { intervalMs: number; degradedAfterMissed: number; failedAfterMissed: number },
): PeerState {
  if (silentMs > opts.failedAfterMissed * opts.intervalMs) return "failed";
  if (silentMs > opts.degradedAfterMissed * opts.intervalMs) return "degraded";
  return "healthy";
}

/**
 * Heartbeats say most; without them, the broker's retained presence. A last will ("offline") newer
 * than the last heartbeat wins: the peer is gone now, not merely quiet for a beat or two.
 */
export function peerStateOf(
  heard: { state: string; lastSeen: number } | undefined,
  presence: { state: "online" | "offline"; at: number } | undefined,
): string {
  if (presence?.state === "offline" && (!heard || presence.at >= heard.lastSeen)) return "offline";
  return heard?.state ?? presence?.state ?? "enrolled";
}

interface Entry {
  cert: Certificate;
  info: PeerInfo;
  lastSeen: number;
  /** Monotonic: a wall clock set by NTP after boot must not fail or revive every peer at once. */
  heardAt: number;
  reported: PeerState;
  timers: (() => void)[];
}

export function createPeerTable(opts: PeerTableOptions): PeerTable {
  const { clock } = opts;
  const limits = {
    intervalMs: opts.intervalMs ?? 10_000,
    degradedAfterMissed: opts.degradedAfterMissed ?? 2,
    failedAfterMissed: opts.failedAfterMissed ?? 5,
  };
  const peers = new Map<string, Entry>();
  const listeners = new Set<PeerChange>();

  const view = (fp: string, e: Entry): Peer => ({
    ...e.info,
    fingerprint: fp,
    name: e.cert.name,
    role: e.cert.role,
    state: peerState(clock.monotonic() - e.heardAt, limits),
    lastSeen: e.lastSeen,
  });

  const emit = (peer: Peer, previous: PeerState | undefined) => {
    for (const fn of [...listeners]) {
      try {
        fn(peer, previous);
      } catch {
        // A broken listener must not stop the others or the caller that fed the heartbeat.
      }
    }
  };

  // Reports a state change driven by time alone; heard() reports the rest.
  const check = (fp: string) => {
    const e = peers.get(fp);
    if (!e) return;
    const peer = view(fp, e);
    if (peer.state === e.reported) return;
    const previous = e.reported;
    e.reported = peer.state;
    emit(peer, previous);
  };

  const cancel = (e: Entry) => {
    for (const stop of e.timers) stop();
    e.timers = [];
  };

  return {
    heard(cert, info = {}) {
      const fp = certificateFingerprint(cert);
      const prev = peers.get(fp);
      if (prev) cancel(prev);
      const entry: Entry = {
        cert,
        info: { ...prev?.info, ...info },
        lastSeen: clock.now(),
        heardAt: clock.monotonic(),
        reported: "healthy",
        timers: [],
      };
      peers.set(fp, entry);
      // One ms past each threshold, since the states change strictly after it.
      for (const missed of [limits.degradedAfterMissed, limits.failedAfterMissed])
        entry.timers.push(clock.setTimeout(() => check(fp), missed * limits.intervalMs + 1));
      if (prev?.reported !== "healthy") emit(view(fp, entry), prev?.reported);
    },

    get(fp) {
      const e = peers.get(fp);
      return e && view(fp, e);
    },

    list: () => [...peers].map(([fp, e]) => view(fp, e)).sort((a, b) => a.name.localeCompare(b.name)),

    onChange(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },

    prune(olderThanMs) {
      const gone: string[] = [];
      for (const [fp, e] of peers) {
        if (clock.monotonic() - e.heardAt <= olderThanMs) continue;
        cancel(e);
        peers.delete(fp);
        gone.push(fp);
      }
      return gone;
    },

    stop() {
      for (const e of peers.values()) cancel(e);
    },
  };
}
