import { afterAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { createSqliteChainStore } from "../chain/adapters/sqlite.ts";
import { createChainLog } from "../chain/log.ts";
import { createChainQueries } from "../chain/queries.ts";
import { loadNodeKeys } from "../identity/node-keys.ts";
import { tempDir } from "../identity/test-fleet.test-helper.ts";
import { createManualClock } from "../platform/clock.ts";
import { openStore } from "../store/database.ts";
import { createChainFacts } from "./chain-facts.ts";
import { createMemoryFacts } from "./facts.ts";
import { factsContract } from "./facts-contract.test-helper.ts";

factsContract("in memory", () => ({ facts: createMemoryFacts() }));

const dir = tempDir("kiana-facts-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const keys = loadNodeKeys({ dataDir: join(dir, "keys") });
let n = 0;
factsContract("on the chain", () => {
  const store = openStore({ path: join(dir, `facts-${n++}.db`) });
  const clock = createManualClock();
  const log = createChainLog({ store: createSqliteChainStore({ store }), keys, clock });
  const facts = createChainFacts({ log, queries: createChainQueries({ db: store.db }) });
  return {
    facts: {
      // Each fact a second later, as people say them: the chain orders recall by block time.
      remember: async (text) => {
        clock.advance(1000);
        await facts.remember(text);
      },
      recall: facts.recall,
    },
    close: () => store.close(),
  };
});

test("a remembered fact is a signed knowledge block of this device's log, as plain text", async () => {
  const store = openStore({ path: join(dir, "block.db") });
  try {
    const chainStore = createSqliteChainStore({ store });
    const log = createChainLog({ store: chainStore, keys, clock: createManualClock() });
    await createChainFacts({ log, queries: createChainQueries({ db: store.db }) }).remember(
      "the bike is in the shed",
    );
    const block = chainStore.block(keys.fingerprint, 0)?.block;
    expect(block?.type).toBe("knowledge");
    expect(new TextDecoder().decode(block?.body)).toBe("the bike is in the shed");
    expect(log.verifyLog(keys.fingerprint)).toEqual({ ok: true, length: 1, signedLength: 1 });
  } finally {
    store.close();
  }
});
