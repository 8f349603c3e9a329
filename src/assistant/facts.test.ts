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

test("recall prefers facts from authors the fleet trusts over a slightly newer one from a disputed author", async () => {
  const store = openStore({ path: join(dir, "trust.db") });
  try {
    const chainStore = createSqliteChainStore({ store });
    const clock = createManualClock();
    const trusted = loadNodeKeys({ dataDir: join(dir, "keys-trusted") });
    const disputed = loadNodeKeys({ dataDir: join(dir, "keys-disputed") });
    const queries = createChainQueries({ db: store.db });
    const write = async (k: typeof keys, text: string) => {
      clock.advance(1000);
      await createChainFacts({
        log: createChainLog({ store: chainStore, keys: k, clock }),
        queries,
      }).remember(text);
    };
    await write(trusted, "the keys are in the drawer");
    await write(disputed, "the keys are in the garage");
    const log = createChainLog({ store: chainStore, keys, clock });
    const trust = new Map([
      [trusted.fingerprint, 0.9],
      [disputed.fingerprint, 0.1],
    ]);
    const plain = createChainFacts({ log, queries });
    expect(await plain.recall(["keys"])).toEqual([
      "the keys are in the garage",
      "the keys are in the drawer",
    ]);
    const weighted = createChainFacts({ log, queries, trustOf: (a) => trust.get(a) ?? 0.5 });
    expect(await weighted.recall(["keys"])).toEqual([
      "the keys are in the drawer",
      "the keys are in the garage",
    ]);
    // Trust breaks near-ties only: a trusted fact four answers older does not beat a fresh one.
    for (const place of ["shed", "hall", "car"]) await write(disputed, `the keys are in the ${place}`);
    expect((await weighted.recall(["keys"]))[0]).toBe("the keys are in the car");
  } finally {
    store.close();
  }
});
