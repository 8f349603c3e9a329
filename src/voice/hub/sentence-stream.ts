// A model's answer arrives in pieces; speech wants whole sentences. This cuts the pieces into
// sentences as soon as each is complete, and hands them on in order to whoever speaks them.
import { splitSentences } from "../tts/sentences.ts";

/** A break is certain only once the whitespace after the terminator arrived: "3." may become "3.5". */
const BREAK = /[.!?…]\s+|\n+/gu;

/** The complete sentences at the start of `text`, and the unfinished rest. */
export function takeSentences(text: string): { ready: string[]; rest: string } {
  let end = 0;
  for (const m of text.matchAll(BREAK)) end = m.index + m[0].length;
  return { ready: splitSentences(text.slice(0, end)), rest: text.slice(end) };
}

export interface SentenceStream extends AsyncIterable<string> {
  /** A piece of the answer; the sentences it completes are handed on at once. */
  push(text: string): void;
  /** The answer is complete: its unfinished rest is a last sentence. */
  end(): void;
  /** The answer failed: its unfinished rest is dropped and `instead` is said last. */
  abandon(instead: string): void;
  /** Every sentence handed on so far, in order. */
  readonly said: readonly string[];
}

export function createSentenceStream(): SentenceStream {
  const queue: string[] = [];
  const said: string[] = [];
  let rest = "";
  let ended = false;
  let wake: (() => void) | null = null;

  const hand = (sentences: string[]) => {
    if (ended) return;
    queue.push(...sentences);
    said.push(...sentences);
    wake?.();
  };
  const finish = (sentences: string[]) => {
    hand(sentences);
    rest = "";
    ended = true;
    wake?.();
  };

  return {
    said,
    push(text) {
      if (ended) return;
      const taken = takeSentences(rest + text);
      rest = taken.rest;
      hand(taken.ready);
    },
    end: () => finish(splitSentences(rest)),
    abandon: (instead) => finish(splitSentences(instead)),
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const next = queue.shift();
        if (next !== undefined) {
          yield next;
          continue;
        }
        if (ended) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = null;
      }
    },
  };
}
