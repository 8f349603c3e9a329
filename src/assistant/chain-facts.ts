// Facts kept on the knowledge chain: "remember" appends a signed `knowledge` block to this device's
// log (so it syncs to the fleet), "recall" searches every author's knowledge through chain_fts.
import type { ChainLog } from "../chain/index.ts";
import type { ChainQueries } from "../chain/queries.ts";
import { type FactsPort, RECALL_LIMIT } from "./facts.ts";

export interface ChainFactsOptions {
  log: Pick<ChainLog, "append">;
  queries: Pick<ChainQueries, "list">;
  limit?: number;
}

/** Plain UTF-8 text bodies, as `kiana chain append` writes them, so the admin page shows them as text. */
export function createChainFacts(opts: ChainFactsOptions): FactsPort {
  const encoder = new TextEncoder();
  return {
    async remember(text) {
      opts.log.append("knowledge", encoder.encode(text));
    },
    async recall(query) {
      // The query builder quotes each word, so nothing said can become FTS syntax.
      const text = query.join(" ").trim();
      if (text === "") return [];
      return opts.queries
        .list({ text, type: "knowledge", limit: opts.limit ?? RECALL_LIMIT })
        .flatMap((row) => (row.text === undefined ? [] : [row.text]));
    },
  };
}
