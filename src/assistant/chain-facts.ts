// Facts kept on the knowledge chain: "remember" appends a signed `knowledge` block to this device's
// log (so it syncs to the fleet), "recall" searches every author's knowledge through chain_fts.
import { rankByTrust } from "../chain/authority/index.ts";
import type { ChainLog } from "../chain/index.ts";
import type { ChainQueries } from "../chain/queries.ts";
import { type FactsPort, RECALL_LIMIT } from "./facts.ts";

export interface ChainFactsOptions {
  log: Pick<ChainLog, "append">;
  queries: Pick<ChainQueries, "list">;
  /** An author's trust from the fleet's confirm/dispute votes (0..1, 0.5 unvoted); absent: all equal. */
  trustOf?: (author: string) => number;
  limit?: number;
}

/** Recent candidates looked at per answer: enough for trust to reorder, few enough to stay cheap. */
const CANDIDATES_PER_ANSWER = 4;

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
      const limit = opts.limit ?? RECALL_LIMIT;
      const rows = opts.queries
        .list({ text, type: "knowledge", limit: limit * (opts.trustOf ? CANDIDATES_PER_ANSWER : 1) })
        .flatMap((row) => (row.text === undefined ? [] : [{ author: row.author, text: row.text }]));
      // Newest first is the relevance; trust from other devices' votes reorders near-ties, so a
      // disputed author's fact yields to a trusted one's but not to a much older one.
      const { trustOf } = opts;
      const ranked = trustOf
        ? rankByTrust(
            rows.map((r, i) => ({ ...r, score: 1 / (1 + i) })),
            trustOf,
          )
        : rows;
      return ranked.slice(0, limit).map((r) => r.text);
    },
  };
}
