// The chain as one device runs it: its SQLite log, the author directory, peer scores, the sync
// server on the HTTP listener and pulls from peers. Built here for `kiana run` and `kiana chain`.

import { createChainAuthority } from "../chain/authority/index.ts";
import { createChainQueries } from "../chain/queries.ts";
import type { BlockFilter } from "../chain/view.ts";
import { isKianaError, kianaError } from "../errors.ts";
import { type Certificate, encodeCertificate } from "../identity/enrolment.ts";
import { loadMembership, type Membership } from "../identity/fleet-membership.ts";
import type { NodeKeys } from "../identity/node-keys.ts";
import type { Clock } from "../platform/clock.ts";
import type { AuditLog } from "../security/index.ts";
import type { Store } from "../store/index.ts";

/** The stored membership, or null when there is none or it cannot be read (the mesh reports that). */
export function safeMembership(dataDir: string): Membership | null {
  try {
    return loadMembership(dataDir);
  } catch {
    return null;
  }
}

export interface ChainNodeOptions {
  store: Store;
  keys: NodeKeys;
  membership: Membership | null;
  revoked: readonly string[];
  clock: Clock;
  audit?: AuditLog;
  /** Bytes of block bodies per batch this node serves (default 256 KiB); tests make it small. */
  batchBytes?: number;
  /** Genesis validators (config chain.validators); empty: this device alone. */
  genesisValidators?: readonly string[];
}

export type ChainNode = Awaited<ReturnType<typeof openChainNode>>;

export async function openChainNode(o: ChainNodeOptions) {
  const [chain, sync, enrolment] = await Promise.all([
    import("../chain/index.ts"),
    import("../chain/sync/index.ts"),
    import("../identity/enrolment.ts"),
  ]);
  const { store, keys, membership, clock } = o;
  const now = () => clock.now();
  const chainStore = chain.createSqliteChainStore({ store });
  const chainLog = chain.createChainLog({ store: chainStore, keys, clock });
  const authors = sync.createSqliteAuthorKeys({ store, now });
  authors.remember({
    author: keys.fingerprint,
    signingKey: keys.signingPublicKey,
    certificate: membership ? encodeCertificate(membership.certificate) : undefined,
    role: membership?.certificate.role,
  });
  const scores = sync.createSqlitePeerScores({ store, now });
  const revoked = new Set(o.revoked);
  const fleet = membership
    ? { publicKey: membership.fleet.publicKey, fleetId: membership.fleet.fleetId, revoked }
    : undefined;
  const counters: Record<string, number> = {};
  const count = (event: string, n = 1) => {
    counters[event] = (counters[event] ?? 0) + n;
  };

  /**
   * Logs outlive certificates: an author's blocks stay valid after its certificate expires, so
   * only the fleet's signature, the fleet id and revocation decide whether its key is accepted.
   */
  const checkCertificate = (cert: Certificate) => {
    if (!fleet) return "this device has not joined a fleet";
    const at = Math.min(Math.max(now(), cert.issuedAt), cert.expiresAt - 1);
    const v = enrolment.verifyCertificate(cert, {
      fleetPublicKey: fleet.publicKey,
      fleetId: fleet.fleetId,
      revoked,
      now: at,
    });
    return v.ok ? undefined : `${v.reason}: ${v.detail}`;
  };

  /** Answers one peer's session on any link; `batchBytes` below the link's message cap. */
  const serve = (
    port: import("../chain/sync/index.ts").SyncPort,
    batchBytes = o.batchBytes,
    idleMs?: number,
  ) => {
    count("sessions-served");
    return sync.serveSync(port, {
      store: chainStore,
      authors,
      batchBytes,
      idleMs,
      onEvent: (e) => count(`served-${e}`),
    });
  };

  const server = sync.createWsSyncServer({
    serverFp: keys.fingerprint,
    fleet: () => fleet,
    identity: () => (membership ? { certificate: membership.certificate, sign: keys.sign } : undefined),
    now,
    serve: (port) => serve(port),
    onRefused(reason) {
      count("links-refused");
      o.audit?.append({ actor: "chain-sync", action: "chain.sync.link-refused", detail: reason });
    },
  });

  /** Pulls what this device lacks over an authenticated port to `peer`. */
  async function pullOver(
    port: import("../chain/sync/index.ts").SyncPort,
    peer: string,
    opts: { timeoutMs?: number; onStored?: (author: string, length: number) => void } = {},
  ) {
    count("pulls");
    const report = await sync.pullFrom({
      port,
      peer,
      store: chainStore,
      authors,
      scores,
      checkCertificate,
      timeoutMs: opts.timeoutMs,
      onStored: opts.onStored,
      onRefusal: (from, reason) =>
        o.audit?.append({ actor: from, action: "chain.sync.refused", detail: reason }),
    });
    count("blocks-received", report.received);
    count("refused", report.refused.length);
    if (report.inSync) count("pulls-in-sync");
    return report;
  }

  /**
   * Pulls what this device lacks from the node serving at `url` (http://host:port); `server`, when
   * known, is the fingerprint of the peer meant there, and any other device is refused.
   */
  async function pull(
    url: string,
    opts: { timeoutMs?: number; server?: string; onStored?: (author: string, length: number) => void } = {},
  ) {
    if (!membership || !fleet)
      throw kianaError(
        "CHAIN_SYNC_UNAVAILABLE",
        "this device has not joined a fleet, so no peer will sync with it (kiana fleet join)",
      );
    const link = await sync
      .connectWsSync(
        url,
        { certificate: membership.certificate, sign: keys.sign },
        { fleet, now, server: opts.server, timeoutMs: opts.timeoutMs },
      )
      .catch((err) => {
        if (isKianaError(err, "CHAIN_SYNC_REFUSED")) {
          const reason = String(err.details.reason ?? err.message);
          count("servers-refused");
          if (opts.server) scores.refused(opts.server, `its address serves another device: ${reason}`);
          o.audit?.append({
            actor: "chain-sync",
            action: "chain.sync.server-refused",
            detail: `${url}: ${reason}`,
          });
        }
        throw err;
      });
    try {
      const report = await pullOver(link.port, link.peer, opts);
      return { ...report, peer: link.peer, bytes: link.bytes() };
    } catch (err) {
      const why = link.closedBecause();
      if (why) throw kianaError("CHAIN_SYNC_UNAVAILABLE", `the peer refused the sync link: ${why}`, {}, err);
      throw err;
    } finally {
      link.port.close();
    }
  }

  const authority = createChainAuthority({
    store,
    chain: chainLog,
    chainStore,
    keys,
    clock,
    genesisValidators: o.genesisValidators ?? [],
  });
  const queries = createChainQueries({ db: store.db });
  /** What the admin page and API show. */
  const view = () => ({
    list: (filter: BlockFilter) => queries.list(filter),
    stats: () => queries.stats(),
    authors: () => queries.authors().map((a) => ({ ...a, trust: authority.trust(a.author) })),
    authority: () => authority.status(),
    counters: () => ({ ...counters }),
  });

  return {
    chain,
    chainStore,
    chainLog,
    authority,
    authors,
    scores,
    server,
    serve,
    pull,
    pullOver,
    view,
    counters: () => ({ ...counters }),
  };
}
