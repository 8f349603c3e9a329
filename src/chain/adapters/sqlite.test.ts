import { expect, test } from "bun:test";
import { openStore } from "../../store/database.ts";
import { AUTHOR_A, chainStoreContract, makeBatch } from "../store-contract.test-helper.ts";
import { createSqliteChainStore } from "./sqlite.ts";

chainStoreContract("sqlite", () => {
  const store = openStore({ path: ":memory:" });
  return { store: createSqliteChainStore({ store }), close: () => store.close() };
});

test("sqlite: a write failing part way through an append rolls the whole append back", () => {
  const db = openStore({ path: ":memory:" });
  const chain = createSqliteChainStore({ store: db });
  chain.append(makeBatch(chain, AUTHOR_A, 2));
  const batch = makeBatch(chain, AUTHOR_A, 4);
  // The blocks are written before the nodes; a failure on the last node must undo them too.
  const last = batch.nodes.at(-1)?.index ?? 0;
  db.db.run(
    `CREATE TRIGGER fail_node BEFORE INSERT ON chain_node WHEN NEW.idx = ${last} BEGIN SELECT RAISE(ABORT, 'disk trouble'); END`,
  );
  expect(() => chain.append(batch)).toThrow("disk trouble");
  expect(chain.length(AUTHOR_A)).toBe(2);
  expect(chain.latestSignedRoot(AUTHOR_A)?.length).toBe(2);
  expect(db.db.query("SELECT count(*) AS n FROM chain_node").get()).toEqual({ n: 1 });
  db.db.run("DROP TRIGGER fail_node");
  chain.append(batch);
  expect(chain.length(AUTHOR_A)).toBe(6);
  db.close();
});
