import { expect, test } from "bun:test";
import { createAssistant } from "../assistant/index.ts";
import { createVoiceLlm } from "./voice-llm.ts";

const enc = new TextEncoder();

/** An SSE body cut into `pieces` at the given byte offsets, as a network read might deliver it. */
function sse(text: string, cuts: number[], onCancel?: () => void): ReadableStream<Uint8Array> {
  const bytes = enc.encode(text);
  const bounds = [0, ...cuts, bytes.length];
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (i >= bounds.length - 1) return c.close();
      c.enqueue(bytes.slice(bounds[i], bounds[i + 1]));
      i += 1;
    },
    cancel: () => onCancel?.(),
  });
}

const delta = (content: string) =>
  `data: ${JSON.stringify({ object: "chat.completion.chunk", choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`;

async function collect(it: AsyncIterable<string> | Promise<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const piece of it as AsyncIterable<string>) out.push(piece);
  return out;
}

test("an unmatched question goes to the node's /v1 chat API as a stream, with its token, and the pieces make the answer", async () => {
  const seen: { auth: string | null; body: Record<string, unknown> }[] = [];
  const text =
    `data: ${JSON.stringify({ choices: [{ index: 0, delta: { role: "assistant", content: "" } }] })}\n\n` +
    delta(" Paris") +
    delta(" is the capital. ") +
    delta("It is on the Seine ü.") +
    `data: ${JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }] })}\n\n` +
    "data: [DONE]\n\n";
  const uPos = enc.encode(text).indexOf(0xc3); // inside the two bytes of "ü"
  const llm = createVoiceLlm({
    model: "qwen-1.5b",
    token: async () => "secret",
    handle: async (request) => {
      seen.push({
        auth: request.headers.get("authorization"),
        body: (await request.json()) as Record<string, unknown>,
      });
      // Cuts inside "data:", inside a JSON string, between the two newlines, and inside a UTF-8 character.
      return new Response(sse(text, [3, 90, 141, uPos + 1], undefined), {
        headers: { "content-type": "text/event-stream" },
      });
    },
  });
  expect(await collect(llm("what is the capital of france"))).toEqual([
    "Paris",
    " is the capital. ",
    "It is on the Seine ü.",
  ]);
  expect(seen[0]?.auth).toBe("Bearer secret");
  expect(seen[0]?.body).toMatchObject({ model: "qwen-1.5b", max_tokens: 120, stream: true });
  const messages = (seen[0]?.body.messages ?? []) as { role: string; content: string }[];
  expect(messages[0]?.role).toBe("system");
  expect(messages.at(-1)).toEqual({ role: "user", content: "what is the capital of france" });

  const assistant = createAssistant({ llm });
  const pieces: string[] = [];
  const r = await assistant.handle("what is the capital of france", { onText: (c) => pieces.push(c) });
  expect(r).toMatchObject({
    source: "llm",
    ok: true,
    reply: "Paris is the capital. It is on the Seine ü.",
  });
  expect(pieces).toHaveLength(3);
  assistant.close();
});

test("an error event mid-stream fails the answer after the pieces before it, with the server's message", async () => {
  let cancelled = false;
  const text = `${delta("Once upon a time. ")}data: ${JSON.stringify({ error: { message: "the peer went away", type: "server_error" } })}\n\n${delta("never")}`;
  const llm = createVoiceLlm({
    model: "m",
    token: () => "t",
    handle: async () =>
      new Response(
        // The last cut keeps the stream open after the error, so only a cancel ends it.
        sse(text, [7, 40, text.indexOf("data", 30) + 20, text.lastIndexOf("data") + 3], () => {
          cancelled = true;
        }),
      ),
  });
  const got: string[] = [];
  await expect(
    (async () => {
      for await (const piece of llm("tell me a story") as AsyncIterable<string>) got.push(piece);
    })(),
  ).rejects.toThrow("the model 'm' did not answer: the peer went away");
  expect(got).toEqual(["Once upon a time. "]);
  expect(cancelled).toBe(true);

  const assistant = createAssistant({ llm });
  const r = await assistant.handle("tell me a story");
  expect(r).toMatchObject({ ok: false, reply: "Sorry, I could not come up with an answer." });
  expect(r.error).toContain("the peer went away");
  assistant.close();
});

test("a refusal from the API (no such model, no peer) becomes the assistant's not-understood answer, naming why in the result", async () => {
  const llm = createVoiceLlm({
    model: "missing",
    token: () => "t",
    handle: async () =>
      Response.json({ error: { message: "the model 'missing' does not exist" } }, { status: 404 }),
  });
  await expect(collect(llm("hello"))).rejects.toThrow(
    "the model 'missing' did not answer: the model 'missing' does not exist",
  );
  const assistant = createAssistant({ llm });
  const r = await assistant.handle("tell me a story");
  expect(r.ok).toBe(false);
  expect(r.error).toContain("does not exist");
  assistant.close();
});

test("an abort stops reading a stream whose server keeps it open", async () => {
  let cancelled = false;
  const llm = createVoiceLlm({
    model: "m",
    token: () => "t",
    // Sends one piece, then nothing, and ignores the request's signal.
    handle: async () =>
      new Response(
        new ReadableStream<Uint8Array>({
          start: (c) => c.enqueue(enc.encode(delta("Hello. "))),
          cancel: () => {
            cancelled = true;
          },
        }),
      ),
  });
  const abort = new AbortController();
  const got: string[] = [];
  const reading = (async () => {
    for await (const piece of llm("hi", abort.signal) as AsyncIterable<string>) {
      got.push(piece);
      abort.abort(new Error("the listener left"));
    }
  })();
  await expect(reading).rejects.toThrow("the listener left");
  expect(got).toEqual(["Hello. "]);
  expect(cancelled).toBe(true);
});
