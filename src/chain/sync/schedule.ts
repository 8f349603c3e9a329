// The running node's sync rhythm: every interval, pull from each reachable enrolled peer in turn,
// one at a time so a 1 GB board never runs two sessions at once. A round still running when the
// next is due is not doubled; a peer that fails is logged once until it works again.
import { describeError } from "../../errors.ts";
import type { Clock } from "../../platform/clock.ts";
import type { Logger } from "../../platform/log.ts";

export interface SyncTarget {
  fingerprint: string;
  name: string;
  /** Its HTTP listener on the LAN; absent when only the broker can reach it. */
  url?: string;
}

export interface SyncOutcome {
  received: number;
  refused: string[];
  inSync: boolean;
}

export interface SyncSchedule {
  /** One round now (also what the timer runs); resolves when every peer was tried. */
  runNow(): Promise<void>;
  stop(): void;
}

export function startSyncSchedule(o: {
  clock: Clock;
  everyMs: number;
  targets(): SyncTarget[];
  pull(target: SyncTarget): Promise<SyncOutcome>;
  log: Logger;
}): SyncSchedule {
  const failing = new Set<string>();
  let running: Promise<void> | undefined;
  const round = async () => {
    for (const t of o.targets()) {
      try {
        const r = await o.pull(t);
        if (failing.delete(t.fingerprint)) o.log.info({ peer: t.name }, "chain sync with peer works again");
        if (r.received > 0 || r.refused.length > 0)
          o.log.info({ peer: t.name, received: r.received, refused: r.refused }, "chain synced");
      } catch (err) {
        if (!failing.has(t.fingerprint))
          o.log.warn({ peer: t.name, url: t.url, err: describeError(err) }, "chain sync with peer failed");
        failing.add(t.fingerprint);
      }
    }
  };
  const runNow = () => {
    running ??= round().finally(() => {
      running = undefined;
    });
    return running;
  };
  const cancel = o.everyMs > 0 ? o.clock.setInterval(() => void runNow(), o.everyMs) : () => {};
  return { runNow, stop: cancel };
}

/** Peers worth a sync attempt: enrolled and heard from; with a URL when an address and port are known. */
export function syncTargets(
  peers: readonly {
    name: string;
    fingerprint: string;
    state: string;
    addresses: string[];
    adminPort?: number;
  }[],
): SyncTarget[] {
  const out: SyncTarget[] = [];
  for (const p of peers) {
    if (!["healthy", "degraded", "online"].includes(p.state)) continue;
    const addr = p.addresses.find((a) => !a.includes(":")) ?? p.addresses[0];
    if (!addr || !p.adminPort) {
      out.push({ fingerprint: p.fingerprint, name: p.name });
      continue;
    }
    out.push({
      fingerprint: p.fingerprint,
      name: p.name,
      url: `http://${addr.includes(":") ? `[${addr}]` : addr}:${p.adminPort}`,
    });
  }
  return out;
}
