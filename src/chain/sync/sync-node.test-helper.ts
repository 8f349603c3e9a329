// Test fixture: enrolled devices of one fleet, each with its own chain store, author keys and peer
// scores, and a `sync(a, b)` that wires two of them with a memory port pair.
import { encodeCertificate, verifyCertificate } from "../../identity/enrolment.ts";
import { enrolNode, T0, testFleet } from "../../identity/test-fleet.test-helper.ts";
import { createManualClock } from "../../platform/clock.ts";
import { openStore } from "../../store/database.ts";
import { createMemoryChainStore } from "../adapters/memory.ts";
import { createSqliteChainStore } from "../adapters/sqlite.ts";
import { createChainLog } from "../log.ts";
import type { ChainStore } from "../ports.ts";
import { headsDigest, localHeads } from "./heads.ts";
import { type PullReport, pullFrom } from "./initiator.ts";
import { createMemoryAuthorKeys, createMemoryPeerScores, memoryPortPair } from "./memory-ports.ts";
import type { SyncPort } from "./ports.ts";
import { serveSync } from "./responder.ts";

export type StoreKind = "memory" | "sqlite";

export function makeFleet(names: readonly string[], kind: StoreKind = "sqlite") {
  const authority = testFleet();
  const clock = createManualClock(T0 + 1000);
  const nodes = names.map((name) => {
    const { keys, cert } = enrolNode(authority, name);
    const db = kind === "sqlite" ? openStore({ path: ":memory:" }) : undefined;
    const store: ChainStore = db ? createSqliteChainStore({ store: db }) : createMemoryChainStore();
    const authors = createMemoryAuthorKeys([
      { author: keys.fingerprint, signingKey: keys.signingPublicKey, certificate: encodeCertificate(cert) },
    ]);
    const scores = createMemoryPeerScores();
    const audited: string[] = [];
    const log = createChainLog({ store, keys, clock });
    return { name, keys, cert, fp: keys.fingerprint, db, store, authors, scores, audited, log };
  });
  const checkCertificate = (cert: Parameters<typeof verifyCertificate>[0]) => {
    const v = verifyCertificate(cert, {
      fleetPublicKey: authority.publicKey,
      fleetId: authority.fleetId,
      now: T0,
    });
    return v.ok ? undefined : `${v.reason}: ${v.detail}`;
  };
  return { authority, clock, nodes, checkCertificate };
}

export type Fleet = ReturnType<typeof makeFleet>;
export type FleetNode = Fleet["nodes"][number];

/** `to` pulls from `from` over a fresh memory pair; `tamper` may rewrite what `from` sends. */
export async function sync(
  fleet: Fleet,
  to: FleetNode,
  from: FleetNode,
  opts: { tamper?: (frame: Uint8Array) => Uint8Array; batchBytes?: number; cutAfterFrames?: number } = {},
): Promise<PullReport & { bytesSent: number; bytesReceived: number; error?: string }> {
  const pair = memoryPortPair();
  const served = serveSync(pair.b, {
    store: from.store,
    authors: from.authors,
    batchBytes: opts.batchBytes,
    idleMs: 2000,
  });
  let frames = 0;
  const port: SyncPort = {
    send: (f) => pair.a.send(f),
    close: () => pair.a.close(),
    async receive(timeoutMs) {
      const f = await pair.a.receive(timeoutMs);
      if (f && opts.cutAfterFrames !== undefined && ++frames > opts.cutAfterFrames) {
        pair.cut();
        return undefined;
      }
      return f && opts.tamper ? opts.tamper(f) : f;
    },
  };
  try {
    const report = await pullFrom({
      port,
      peer: from.fp,
      store: to.store,
      authors: to.authors,
      scores: to.scores,
      checkCertificate: fleet.checkCertificate,
      onRefusal: (_peer, reason) => to.audited.push(reason),
      timeoutMs: 2000,
    });
    return { ...report, bytesSent: pair.stats.a.bytes, bytesReceived: pair.stats.b.bytes };
  } finally {
    pair.cut();
    await served;
  }
}

export const digestOf = (n: FleetNode) => Buffer.from(headsDigest(localHeads(n.store))).toString("hex");
export const text = (s: string) => new TextEncoder().encode(s);

export function appendMany(n: FleetNode, count: number, perBatch = 10, bytes = 0) {
  for (let done = 0; done < count; done += perBatch) {
    const entries = Array.from({ length: Math.min(perBatch, count - done) }, (_, i) => ({
      type: "knowledge",
      body: text(`${n.name} fact ${done + i} ${"x".repeat(bytes)}`),
    }));
    n.log.appendBatch(entries);
  }
}
