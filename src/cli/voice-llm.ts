// The assistant's fallback to a language model: a question no intent matched goes to this node's own
// OpenAI-compatible API, so a model that does not fit here is answered by a stronger peer as usual.
import type { LlmFallback } from "../assistant/index.ts";

export interface VoiceLlmOptions {
  /** The registry name of the model to ask. */
  model: string;
  /** This node's /v1 handler and its bearer token (model-service.ts). */
  handle: (request: Request) => Promise<Response>;
  token: () => string | Promise<string>;
  /** Spoken answers stay short: a long one keeps the user waiting and the speaker busy. */
  maxTokens?: number;
}

const SYSTEM =
  "You are a voice assistant on a home device. Answer in one or two short, plain sentences that read well aloud.";

export function createVoiceLlm(o: VoiceLlmOptions): LlmFallback {
  return async (text, signal) => {
    const response = await o.handle(
      new Request("http://kiana.local/v1/chat/completions", {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${await o.token()}` },
        body: JSON.stringify({
          model: o.model,
          messages: [
            { role: "system", content: SYSTEM },
            { role: "user", content: text },
          ],
          max_tokens: o.maxTokens ?? 120,
        }),
        signal,
      }),
    );
    const body = (await response.json().catch(() => null)) as {
      choices?: { message?: { content?: unknown } }[];
      error?: { message?: unknown };
    } | null;
    if (!response.ok)
      throw new Error(
        `the model '${o.model}' did not answer: ${String(body?.error?.message ?? response.status)}`,
      );
    const content = body?.choices?.[0]?.message?.content;
    if (typeof content !== "string") throw new Error(`the model '${o.model}' answered without text`);
    return content.trim();
  };
}
