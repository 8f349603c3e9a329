// The assistant's fallback to a language model: a question no intent matched goes to this node's own
// OpenAI-compatible API, so a model that does not fit here is answered by a stronger peer as usual.
// The answer is streamed, so the hub can speak its first sentence while the model still writes.
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

interface StreamEvent {
  choices?: { delta?: { content?: unknown } }[];
  error?: { message?: unknown } | string;
}

export function createVoiceLlm(o: VoiceLlmOptions): LlmFallback {
  const failed = (why: unknown) => new Error(`the model '${o.model}' did not answer: ${String(why)}`);

  return async function* ask(text: string, signal?: AbortSignal): AsyncGenerator<string> {
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
          stream: true,
        }),
        signal,
      }),
    );
    if (!response.ok || !response.body) {
      const body = (await response.json().catch(() => null)) as StreamEvent | null;
      throw failed(errorMessage(body) ?? response.status);
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    // A handler that ignores the request's signal still stops being read when it fires.
    const stop = () => void reader.cancel().catch(() => {});
    signal?.addEventListener("abort", stop, { once: true });
    let buffered = "";
    let started = false;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        signal?.throwIfAborted();
        if (done) break;
        buffered += decoder.decode(value, { stream: true });
        // Events end at a blank line; a network read may stop anywhere inside one.
        let end = buffered.indexOf("\n");
        while (end >= 0) {
          const line = buffered.slice(0, end).replace(/\r$/, "");
          buffered = buffered.slice(end + 1);
          end = buffered.indexOf("\n");
          if (!line.startsWith("data:")) continue;
          const data = line.slice(5).trim();
          if (data === "[DONE]") return;
          let event: StreamEvent;
          try {
            event = JSON.parse(data) as StreamEvent;
          } catch {
            throw failed(`an unreadable stream event: ${data.slice(0, 80)}`);
          }
          const why = errorMessage(event);
          if (why !== undefined) throw failed(why);
          const delta = event.choices?.[0]?.delta?.content;
          if (typeof delta !== "string") continue;
          // Leading blanks would only delay the first sentence being seen as one.
          const content = started ? delta : delta.trimStart();
          if (content === "") continue;
          started = true;
          yield content;
        }
      }
      throw failed("the stream ended before [DONE]");
    } finally {
      signal?.removeEventListener("abort", stop);
      // Stops the generation when the listener went away or the answer failed part-way.
      await reader.cancel().catch(() => {});
    }
  };
}

function errorMessage(event: StreamEvent | null): string | undefined {
  const e = event?.error;
  if (e === undefined || e === null) return undefined;
  if (typeof e === "string") return e;
  return String(e.message ?? "unknown error");
}
