// What the assistant needs to remember and recall facts, and an in-memory implementation for tests
// and for boards without the chain. The chain adapter (chain-facts.ts) keeps the same contract.
import { normalizeText } from "./entities.ts";

export interface FactsPort {
  /** Keeps one fact, as said: "my keys are in the drawer". */
  remember(text: string): Promise<void>;
  /**
   * Facts containing every query word as a whole word (no stemming: "key" does not find "keys"),
   * newest first, at most a handful. An empty query finds nothing.
   */
  recall(query: readonly string[]): Promise<string[]>;
}

/** Words that say nothing about what a fact is about: "where are my keys" looks for "keys". */
const FILLER = new Set(
  "the a an my your our his her their its this that these those some of is are was were i me you we".split(
    " ",
  ),
);

/** The words of a question's topic worth searching for; all of them when every word is filler. */
export function recallWords(topic: string): string[] {
  const words = normalizeText(topic);
  const content = words.filter((w) => !FILLER.has(w));
  return [...new Set(content.length > 0 ? content : words)];
}

export const RECALL_LIMIT = 5;

export function createMemoryFacts(opts: { limit?: number } = {}): FactsPort & { readonly facts: string[] } {
  const facts: string[] = [];
  return {
    facts,
    async remember(text) {
      facts.push(text);
    },
    async recall(query) {
      const wanted = query.map((w) => w.toLowerCase());
      if (wanted.length === 0) return [];
      const hits: string[] = [];
      for (let i = facts.length - 1; i >= 0 && hits.length < (opts.limit ?? RECALL_LIMIT); i--) {
        const fact = facts[i] as string;
        const words = new Set(normalizeText(fact));
        if (wanted.every((w) => words.has(w))) hits.push(fact);
      }
      return hits;
    },
  };
}
