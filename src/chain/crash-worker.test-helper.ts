// Child process for the crash trials: appends to (or syncs into) a data dir until it is killed,
// printing "ack ..." only after each write is durably committed, so the parent knows what must survive.
import { writeSync } from "node:fs";
import { join } from "node:path";
import { openChainNode, safeMembership } from "../cli/chain-node.ts";
import { loadNodeKeys } from "../identity/node-keys.ts";
import { seededRandom } from "../identity/test-fleet.test-helper.ts";
import { systemClock } from "../platform/clock.ts";
import { openStore } from "../store/database.ts";
import { createSqliteChainStore } from "./adapters/sqlite.ts";
import { createChainLog } from "./log.ts";

const [mode, dataDir, arg] = process.argv.slice(2);
if (!dataDir || (mode !== "append" && mode !== "sync"))
  throw new Error("usage: append|sync DATA_DIR SEED|URL");
const say = (line: string) => writeSync(1, `${line}\n`);
const store = openStore({ path: join(dataDir, "kiana.db") });
const keys = loadNodeKeys({ dataDir });

if (mode === "append") {
  const rand = seededRandom(Number(arg ?? 1));
  const log = createChainLog({ store: createSqliteChainStore({ store }), keys, clock: systemClock });
  say("ready");
  for (let i = 0; i < 100_000; i++) {
    const [count = 1, size = 0] = rand(2);
    const entries = Array.from({ length: 1 + (count % 20) }, (_, k) => ({
      type: k % 7 === 0 ? "vote" : "knowledge",
      body: new TextEncoder().encode(`trial fact ${i}.${k} ${"z".repeat(size * 4)}`),
    }));
    const { root } = log.appendBatch(entries);
    say(`ack ${keys.fingerprint} ${root.length}`);
  }
} else {
  const node = await openChainNode({
    store,
    keys,
    membership: safeMembership(dataDir),
    revoked: [],
    clock: systemClock,
  });
  say("ready");
  for (let i = 0; i < 1000; i++) {
    const r = await node.pull(arg as string, {
      onStored: (author, length) => say(`ack ${author} ${length}`),
    });
    if (r.inSync) say("synced");
    await Bun.sleep(2);
  }
}
store.close();
