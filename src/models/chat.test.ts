// Chat on the tiny GGUF through the real node-llama-cpp: prefix reuse proven by the tokens each turn
// evaluates (node-llama-cpp's token meter), streaming, sampling options, aborts and the sequence bound.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEngineRegistry } from "../platform/engines.ts";
import { type HardwareProfile, readHardwareProfile } from "../platform/hardware-profile.ts";
import {
  type ChatMessage,
  type ChatRequest,
  type ChatResult,
  type ChatService,
  createLlamaChat,
} from "./chat.ts";
import { writeTinyLlama } from "./gguf-writer.test-helper.ts";
import { createLlamaEngine, type LlamaEngine, type LlamaModule, type ModelRef } from "./llama-engine.ts";

const tmp = mkdtempSync(join(tmpdir(), "kiana-chat-"));
const engines = createEngineRegistry();
const tiny: ModelRef = { id: "tiny", name: "tiny", path: join(tmp, "tiny.gguf"), kind: "gguf" };
const other: ModelRef = { id: "other", name: "other", path: join(tmp, "other.gguf"), kind: "gguf" };
let profile: HardwareProfile;
let engine: LlamaEngine;

beforeAll(async () => {
  const x86 = await readHardwareProfile({
    root: join(import.meta.dir, "../platform/fixtures/x86-64-pc"),
    useSysteminformation: false,
  });
  profile = { ...x86, cpu: { ...x86.cpu, cores: 2 } };
  writeTinyLlama(tiny.path, { seed: 1 });
  writeTinyLlama(other.path, { seed: 2 });
  engine = createLlamaEngine({
    loadLlama: async () => (await engines.load("llama")) as LlamaModule,
    profile,
  });
});
afterAll(async () => {
  await engine.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

// Every chat service is disposed after its test: a context left to the garbage collector would hang
// the model's dispose when a later test swaps models.
const made: ChatService[] = [];
afterEach(async () => {
  for (const c of made.splice(0)) await c.dispose();
});
const newChat = (maxSequences?: number) => {
  const chat = createLlamaChat({ engine, maxSequences });
  made.push(chat);
  return chat;
};

const system: ChatMessage = { role: "system", content: "you are kiana" };
const user = (content: string): ChatMessage => ({ role: "user", content });

async function run(chat: ChatService, req: Omit<ChatRequest, "model">, model = tiny) {
  const turn = await chat.start({ model, ...req });
  if (!turn.ok) throw new Error(turn.message);
  const deltas: string[] = [];
  for await (const d of turn) deltas.push(d);
  return { deltas, result: await turn.result, promptTokens: turn.promptTokens };
}

describe("one chat service on the tiny model", () => {
  test("a follow-up turn evaluates only what it adds; a cold service evaluates the whole prompt", async () => {
    const chat = newChat(2);
    const first = await run(chat, { messages: [system, user("hello world")], maxTokens: 6 });
    expect(first.result.evaluatedTokens).toBeGreaterThanOrEqual(first.promptTokens - 1);

    const followUp = [
      system,
      user("hello world"),
      { role: "assistant" as const, content: first.result.text },
    ];
    followUp.push(user("the kiana is a world"));
    const second = await run(chat, { messages: followUp, maxTokens: 6 });
    // At most what follows the first turn's prompt (its own reply's tokens may re-render differently).
    expect(second.result.evaluatedTokens).toBeLessThanOrEqual(second.promptTokens - first.promptTokens + 1);

    const cold = await run(newChat(1), {
      messages: followUp,
      maxTokens: 6,
    });
    expect(cold.promptTokens).toBe(second.promptTokens);
    expect(cold.result.evaluatedTokens).toBeGreaterThanOrEqual(second.promptTokens - 1);
    expect(second.result.evaluatedTokens).toBeLessThan(cold.result.evaluatedTokens / 2);
    // Same prompt, greedy: the warm and the cold turn say the same thing.
    expect(cold.result.text).toBe(second.result.text);
  }, 60_000);

  test("deltas stream the reply; maxTokens ends it with 'length'; greedy is repeatable", async () => {
    const chat = newChat();
    const a = await run(chat, { messages: [user("hello")], maxTokens: 12 });
    expect(a.deltas.length).toBeGreaterThan(1);
    expect(a.deltas.join("")).toBe(a.result.text);
    expect(a.result).toMatchObject({ finishReason: "length", completionTokens: 12 });
    const b = await run(chat, { messages: [user("hello")], maxTokens: 12 });
    expect(b.result.text).toBe(a.result.text);
  }, 60_000);

  test("a stop string ends the reply before it", async () => {
    const chat = newChat();
    const free = await run(chat, { messages: [user("kiana")], maxTokens: 16 });
    const stop = free.result.text.slice(3, 5);
    expect(stop.length).toBe(2);
    const stopped = await run(chat, { messages: [user("kiana")], maxTokens: 16, stop: [stop] });
    expect(stopped.result.finishReason).toBe("stop");
    expect(stopped.result.text).toBe(free.result.text.slice(0, free.result.text.indexOf(stop)));
  }, 60_000);

  test("sampling with a seed is repeatable, and differs from greedy", async () => {
    const chat = newChat();
    const sampled = (seed: number) =>
      run(chat, { messages: [user("world")], maxTokens: 24, temperature: 1.5, topP: 1, seed });
    const [x, y, greedy] = [
      await sampled(7),
      await sampled(7),
      await run(chat, { messages: [user("world")], maxTokens: 24 }),
    ];
    expect(x.result.text).toBe(y.result.text);
    expect(x.result.text).not.toBe(greedy.result.text);
  }, 60_000);

  test("leaving the stream or aborting the signal stops generation early", async () => {
    const chat = newChat();
    const turn = await chat.start({ model: tiny, messages: [user("hello")], maxTokens: 180 });
    if (!turn.ok) throw new Error(turn.message);
    for await (const _ of turn) break;
    const left: ChatResult = await turn.result;
    expect(left.finishReason).toBe("abort");
    expect(left.completionTokens).toBeLessThan(180);

    const ac = new AbortController();
    const t2 = await chat.start({
      model: tiny,
      messages: [user("hello")],
      maxTokens: 180,
      signal: ac.signal,
    });
    if (!t2.ok) throw new Error(t2.message);
    for await (const _ of t2) ac.abort();
    expect((await t2.result).finishReason).toBe("abort");
    expect((await t2.result).completionTokens).toBeLessThan(180);
  }, 60_000);

  test("a prompt or max_tokens beyond the context is refused before generating", async () => {
    const chat = newChat();
    const long = await chat.start({ model: tiny, messages: [user("hello ".repeat(300))] });
    expect(long).toMatchObject({ ok: false, code: "context_length_exceeded", param: "messages" });
    const greedy = await chat.start({ model: tiny, messages: [user("hello")], maxTokens: 250 });
    expect(greedy).toMatchObject({ ok: false, code: "context_length_exceeded", param: "max_tokens" });
  }, 60_000);

  test("at most N sequences: concurrent conversations beyond N wait, and all finish", async () => {
    const chat = newChat(2);
    const words = ["hello", "world", "kiana"];
    const turns = await Promise.all(words.map((w) => run(chat, { messages: [user(w)], maxTokens: 20 })));
    expect(turns.map((t) => t.result.finishReason)).toEqual(["length", "length", "length"]);
    expect(chat.stats()).toEqual({ sequences: 2, busy: 0, capacity: 2 });
    // Each conversation alone gives the same text: sharing a context did not mix sequences.
    const alone = await run(newChat(1), {
      messages: [user("kiana")],
      maxTokens: 20,
    });
    expect(turns[2]?.result.text).toBe(alone.result.text);
  }, 60_000);

  test("a request for another model swaps the loaded model and the chat context with it", async () => {
    const chat = newChat();
    await run(chat, { messages: [user("hello")], maxTokens: 4 });
    const before = engine.current();
    const swapped = await run(chat, { messages: [user("hello")], maxTokens: 4 }, other);
    expect(swapped.result.finishReason).toBe("length");
    expect(before?.model.disposed).toBe(true);
    expect(engine.current()?.ref.id).toBe("other");
    expect(chat.stats().sequences).toBe(1);
  }, 60_000);
});
