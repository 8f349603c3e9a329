// `kiana chain sync --peer URL|NAME|FINGERPRINT`: one pull from a peer, beside a running node or
// without one. A name or fingerprint is looked up in the running node's peer snapshot.

import { syncTargets } from "../chain/sync/schedule.ts";
import type { KianaConfig } from "../config/index.ts";
import { kianaError } from "../errors.ts";
import { capabilityLogger, type Logger } from "../platform/log.ts";
import { openCore } from "./core.ts";
import { readPeerSnapshot } from "./status.ts";

/**
 * A URL as given, else the first reachable address of the peer with that name or fingerprint, with
 * its fingerprint so that another device answering there is refused.
 */
export function resolvePeer(peer: string, dataDir: string): { url: string; server?: string } {
  if (/^https?:\/\//.test(peer)) return { url: peer };
  const snapshot = readPeerSnapshot(dataDir);
  if (!snapshot)
    throw kianaError(
      "CHAIN_SYNC_UNAVAILABLE",
      `no peer list here to look up ${peer}: give a URL (http://host:port) or start kiana run`,
    );
  const wanted = peer.toLowerCase().replace(/[^0-9a-z-]/g, "");
  const match = snapshot.peers.find(
    (p) => p.name === peer || (wanted.length >= 8 && p.fingerprint.startsWith(wanted)),
  );
  if (!match)
    throw kianaError(
      "CHAIN_SYNC_UNAVAILABLE",
      `no peer named ${peer} is known; \`kiana status\` lists the peers`,
    );
  const [target] = syncTargets([{ ...match, state: "healthy" }]);
  if (!target?.url)
    throw kianaError("CHAIN_SYNC_UNAVAILABLE", `peer ${match.name} has no known address and port yet`);
  return { url: target.url, server: match.fingerprint };
}

export async function runChainSync(
  flags: Record<string, string>,
  json: boolean,
  config: Readonly<KianaConfig>,
  log: Logger,
): Promise<number> {
  if (!flags.peer)
    throw kianaError(
      "CLI_USAGE",
      "--peer is required: a URL (http://host:port), a peer name or a fingerprint",
    );
  const { url, server } = resolvePeer(flags.peer, config.dataDir);
  const [{ loadNodeKeys }, { openChainNode, safeMembership }, { systemClock }, { createAuditLog }] =
    await Promise.all([
      import("../identity/index.ts"),
      import("./chain-node.ts"),
      import("../platform/clock.ts"),
      import("../security/index.ts"),
    ]);
  const { store } = openCore(config, log);
  try {
    const keys = loadNodeKeys({ dataDir: config.dataDir, log: capabilityLogger(log, "identity") });
    const node = await openChainNode({
      store,
      keys,
      membership: safeMembership(config.dataDir),
      revoked: config.mesh.revoked,
      clock: systemClock,
      audit: createAuditLog({ store }),
    });
    const started = performance.now();
    const r = await node.pull(url, { server, timeoutMs: Number(flags.timeout ?? 30) * 1000 });
    const seconds = (performance.now() - started) / 1000;
    if (json) {
      process.stdout.write(`${JSON.stringify({ url, ...r, seconds })}\n`);
    } else {
      const what = r.inSync ? "already in sync" : `${r.received} blocks received and verified`;
      process.stdout.write(
        `${url}: ${what} in ${seconds.toFixed(2)} s (${r.roundTrips} round trips, ${r.bytes.sent + r.bytes.received} bytes)\n`,
      );
      for (const reason of r.refused) process.stdout.write(`refused: ${reason}\n`);
      if (r.behind.length > 0)
        process.stdout.write(`still behind on ${r.behind.length} log(s); run again to resume\n`);
    }
    return r.refused.length > 0 ? 1 : 0;
  } finally {
    store.close();
  }
}
