// What happens to a sentence no intent matched: the language model answers it when there is one
// (whole or streamed), otherwise the assistant says plainly that it did not understand.
import { describeError } from "../errors.ts";

/** The local model: a whole answer, or its pieces as they are generated. */
export type LlmFallback = (text: string, signal?: AbortSignal) => Promise<string> | AsyncIterable<string>;

export const NOT_UNDERSTOOD = "Sorry, I did not understand that.";

/**
 * The model's answer to `text`. A failing model is a reply, not an exception, so the speaker always
 * hears something; an abort is rethrown, since whoever aborted no longer wants an answer.
 */
export async function fallback(
  text: string,
  llm: LlmFallback | undefined,
  opts: { signal?: AbortSignal; onText?: (chunk: string) => void } = {},
): Promise<{ reply: string; ok: boolean; error?: string }> {
  if (!llm) return { reply: NOT_UNDERSTOOD, ok: false };
  let answer = "";
  try {
    const out = llm(text, opts.signal);
    if (typeof (out as AsyncIterable<string>)[Symbol.asyncIterator] === "function") {
      for await (const chunk of out as AsyncIterable<string>) {
        opts.signal?.throwIfAborted();
        answer += chunk;
        opts.onText?.(chunk);
      }
    } else {
      answer = await (out as Promise<string>);
      opts.onText?.(answer);
    }
  } catch (err) {
    if (opts.signal?.aborted) throw opts.signal.reason ?? err;
    return { reply: "Sorry, I could not come up with an answer.", ok: false, error: describeError(err) };
  }
  const reply = answer.trim();
  return reply === "" ? { reply: "I do not have an answer to that.", ok: false } : { reply, ok: true };
}
