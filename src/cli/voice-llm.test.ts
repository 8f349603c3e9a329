import { expect, test } from "bun:test";
import { createAssistant } from "../assistant/index.ts";
import { createVoiceLlm } from "./voice-llm.ts";

test("an unmatched question goes to the node's /v1 chat API with its token, and the answer is spoken", async () => {
  const seen: { auth: string | null; body: Record<string, unknown> }[] = [];
  const llm = createVoiceLlm({
    model: "qwen-1.5b",
    token: async () => "secret",
    handle: async (request) => {
      seen.push({
        auth: request.headers.get("authorization"),
        body: (await request.json()) as Record<string, unknown>,
      });
      return Response.json({ choices: [{ message: { role: "assistant", content: " Paris is. \n" } }] });
    },
  });
  const assistant = createAssistant({ llm });
  const r = await assistant.handle("what is the capital of france");
  expect(r).toMatchObject({ source: "llm", ok: true, reply: "Paris is." });
  expect(seen[0]?.auth).toBe("Bearer secret");
  expect(seen[0]?.body).toMatchObject({ model: "qwen-1.5b", max_tokens: 120 });
  expect(((seen[0]?.body.messages ?? []) as { role: string; content: string }[]).at(-1)).toEqual({
    role: "user",
    content: "what is the capital of france",
  });
  assistant.close();
});

test("a refusal from the API (no such model, no peer) becomes the assistant's not-understood answer, naming why in the result", async () => {
  const llm = createVoiceLlm({
    model: "missing",
    token: () => "t",
    handle: async () =>
      Response.json({ error: { message: "the model 'missing' does not exist" } }, { status: 404 }),
  });
  await expect(llm("hello")).rejects.toThrow(
    "the model 'missing' did not answer: the model 'missing' does not exist",
  );
  const assistant = createAssistant({ llm });
  const r = await assistant.handle("tell me a story");
  expect(r.ok).toBe(false);
  expect(r.error).toContain("does not exist");
  assistant.close();
});
