// The receiving side of `scripts/bench chain`, run as its own process so that its memory is its
// own: `bun scripts/benchmarks/chain-peer.ts DATA_DIR URL pull|idle`. Prints one JSON line.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pullFrom } from "../../src/chain/sync/initiator.ts";
import { connectWsSync } from "../../src/chain/sync/ws-link.ts";
import { openChainNode, safeMembership } from "../../src/cli/chain-node.ts";
import { loadNodeKeys } from "../../src/identity/node-keys.ts";
import { systemClock } from "../../src/platform/clock.ts";
import { openStore } from "../../src/store/database.ts";

const [dataDir = "", url = "", mode = "pull"] = process.argv.slice(2);
const kib = (field: string) =>
  Number(
    new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? 0,
  ) * 1024;

const store = openStore({ path: join(dataDir, "kiana.db") });
const keys = loadNodeKeys({ dataDir });
const membership = safeMembership(dataDir);
const node = await openChainNode({ store, keys, membership, revoked: [], clock: systemClock });
Bun.gc(true);
const idleRss = kib("VmRSS");

if (mode === "idle") {
  // One link, then a sync check on it: what two nodes already in sync exchange per check.
  const link = await connectWsSync(
    url,
    { certificate: membership?.certificate as never, sign: keys.sign },
    { fleet: membership?.fleet as never, now: () => Date.now() },
  );
  const handshake = link.bytes();
  const t = performance.now();
  const report = await pullFrom({
    port: link.port,
    peer: link.peer,
    store: node.chainStore,
    authors: node.authors,
    scores: node.scores,
    checkCertificate: () => undefined,
  });
  const ms = performance.now() - t;
  const after = link.bytes();
  link.port.close();
  console.log(
    JSON.stringify({
      inSync: report.inSync,
      roundTrips: report.roundTrips,
      ms,
      handshakeBytes: handshake.sent + handshake.received + handshake.framing,
      checkBytes:
        after.sent +
        after.received +
        after.framing -
        (handshake.sent + handshake.received + handshake.framing),
      checkFrameBytes: after.sent + after.received - handshake.sent - handshake.received,
    }),
  );
} else {
  let stored = 0;
  let rounds = 0;
  let roundTrips = 0;
  const bytes = { sent: 0, received: 0, framing: 0 };
  const t = performance.now();
  // A pull that a cut link leaves behind is resumed, as the node's schedule would.
  for (; rounds < 20; rounds++) {
    const r = await node.pull(url, { timeoutMs: 120_000 });
    stored += r.received;
    roundTrips += r.roundTrips;
    bytes.sent += r.bytes.sent;
    bytes.received += r.bytes.received;
    bytes.framing += r.bytes.framing;
    if (r.refused.length > 0) throw new Error(`refused: ${r.refused.join("; ")}`);
    if (r.behind.length === 0) break;
  }
  const seconds = (performance.now() - t) / 1000;
  console.log(
    JSON.stringify({
      stored,
      seconds,
      rounds: rounds + 1,
      roundTrips,
      bytes,
      idleRss,
      peakRss: kib("VmHWM"),
    }),
  );
}
store.close();
