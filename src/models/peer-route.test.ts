// Two nodes in one process, each a real OpenAI handler on 127.0.0.1: A cannot answer (the model is a
// 70B it refuses, or one it lacks), B runs the tiny GGUF on llama.cpp; the official client asks A.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { encodeHeartbeat, parseHeartbeat } from "../mesh/heartbeat.ts";
import { testPeers } from "../mesh/transfer/transfer.test-helper.ts";
import { createEngineRegistry } from "../platform/engines.ts";
import { readHardwareProfile } from "../platform/hardware-profile.ts";
import { createLlamaChat } from "./chat.ts";
import { CLAIMED_MODELS, writeClaimedModel } from "./claimed-models.test-helper.ts";
import { writeTinyLlama } from "./gguf-writer.test-helper.ts";
import { createLlamaEngine, type LlamaEngine, type LlamaModule, type ModelRef } from "./llama-engine.ts";
import type { EmbedFn } from "./onnx-sessions.ts";
import { createOpenAiApi, type OpenAiApiOptions } from "./openai-api.ts";
import { createPeerTokenCheck, createWindowReplayGuard } from "./peer-auth.ts";
import { createPeerForwarder } from "./peer-forwarder.ts";
import { createPeerRoute } from "./peer-route.ts";
import type { RoutablePeer } from "./routing.ts";
import { createServedModels } from "./served-models.ts";

const { alice, bob, clock } = testPeers();
const tmp = mkdtempSync(join(tmpdir(), "kiana-peer-route-"));
const NAME = "assistant";
const onA: ModelRef = { id: NAME, name: "Llama 3.1 70B", path: join(tmp, "big.gguf"), kind: "gguf" };
const onB: ModelRef = { id: NAME, name: "Tiny llama", path: join(tmp, "tiny.gguf"), kind: "gguf" };
const engines = createEngineRegistry();
const noEmbed: EmbedFn = () => Promise.reject(new Error("embeddings are not part of this test"));
const stops: (() => Promise<void> | void)[] = [];
const serve = (api: { handle(r: Request): Promise<Response | undefined> }) => {
  const s = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: async (r) => (await api.handle(r)) ?? new Response(null, { status: 404 }),
  });
  stops.push(() => s.stop(true));
  return s.port ?? 0;
};

let bPeer: RoutablePeer;
let bDirect: OpenAI;
const nodes = {} as Record<"refuses" | "lacks", OpenAI>;
const node = (models: ModelRef[], engine: LlamaEngine, o: Partial<OpenAiApiOptions> = {}) =>
  createOpenAiApi({
    models: () => models,
    chat: createLlamaChat({ engine }),
    embed: noEmbed,
    bearerToken: "",
    ...o,
  });
const clientOf = (port: number, apiKey: string) =>
  new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey, maxRetries: 0 });

beforeAll(async () => {
  writeTinyLlama(onB.path, { seed: 1 });
  writeClaimedModel(onA.path, CLAIMED_MODELS["70B Q4_K_M"]);
  const x86 = await readHardwareProfile({
    root: join(import.meta.dir, "../platform/fixtures/x86-64-pc"),
    useSysteminformation: false,
  });
  const profile = { ...x86, cpu: { ...x86.cpu, cores: 2 } };
  const engineFor = () =>
    createLlamaEngine({ loadLlama: async () => (await engines.load("llama")) as LlamaModule, profile });
  const [engineA, engineB] = [engineFor(), engineFor()];
  const served = createServedModels();
  const chatB = createLlamaChat({ engine: engineB });
  const b = createOpenAiApi({
    models: () => [onB],
    chat: served.measure(chatB),
    embed: noEmbed,
    bearerToken: "token-b",
    peerAuth: createPeerTokenCheck({
      open: bob.auth.opener(createWindowReplayGuard()),
      audience: () => bob.fp,
      now: () => clock.now(),
    }),
  });
  const bPort = serve(b);
  stops.push(
    () => chatB.dispose(),
    () => engineA.dispose(),
    () => engineB.dispose(),
  );
  bDirect = clientOf(bPort, "token-b");
  // B answers once on its own: the model is then loaded and measured, and its heartbeat says so.
  await bDirect.chat.completions.create({
    model: NAME,
    messages: [{ role: "user", content: "hi" }],
    max_tokens: 12,
  });
  const loaded = new Set([engineB.current()?.ref.id ?? ""]);
  const beat = parseHeartbeat(
    encodeHeartbeat({
      version: "1",
      adminPort: bPort,
      addresses: ["127.0.0.1"],
      ts: 1,
      models: served.list([NAME], loaded),
    }),
  );
  if (!beat?.models) throw new Error("B's heartbeat lost its models");
  bPeer = { ...beat, name: "bob", role: "node", fingerprint: bob.fp, state: "healthy" };
  const route = createPeerRoute({
    peers: () => [bPeer],
    forwarder: createPeerForwarder({ seal: alice.auth.seal, clock }),
    routeModels: [],
  });
  nodes.refuses = clientOf(serve(node([onA], engineA, { bearerToken: "token-a", route })), "token-a");
  nodes.lacks = clientOf(serve(node([], engineA, { bearerToken: "token-a", route })), "token-a");
}, 60_000);
afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
  rmSync(tmp, { recursive: true, force: true });
});
const ask = [{ role: "user" as const, content: "hello world" }];

describe("a request A cannot serve is answered by B", () => {
  test("B advertises the model as loaded, with the speed it measured", () => {
    expect(bPeer.models).toEqual([{ name: NAME, loaded: true, tokensPerSecond: expect.any(Number) }]);
    expect(bPeer.models?.[0]?.tokensPerSecond).toBeGreaterThan(0);
  });

  test.each(["refuses", "lacks"] as const)(
    "A %s the model: B's answer streams back through A",
    async (which) => {
      const { data: stream, response } = await nodes[which].chat.completions
        .create({ model: NAME, messages: ask, max_tokens: 10, stream: true })
        .withResponse();
      expect(response.headers.get("x-kiana-served-by")).toBe("bob");
      const deltas: string[] = [];
      for await (const chunk of stream) deltas.push(chunk.choices[0]?.delta.content ?? "");
      expect(deltas.filter(Boolean).length).toBeGreaterThan(1);
      const direct = await bDirect.chat.completions.create({ model: NAME, messages: ask, max_tokens: 10 });
      expect(deltas.join("")).toBe(direct.choices[0]?.message.content ?? "");
      const whole = await nodes[which].chat.completions.create({
        model: NAME,
        messages: ask,
        max_tokens: 10,
      });
      expect(whole.choices[0]?.message.content).toBe(deltas.join(""));
    },
    60_000,
  );

  test("without a peer that has it, A's own answer stands: 503 too big, 404 unknown", async () => {
    const models = bPeer.models;
    bPeer.models = [{ name: NAME, loaded: false }];
    try {
      const big = await nodes.refuses.chat.completions.create({ model: NAME, messages: ask }).catch((e) => e);
      expect(big).toMatchObject({ status: 503, code: "model_does_not_fit" });
      const unknown = await nodes.lacks.chat.completions
        .create({ model: NAME, messages: ask })
        .catch((e) => e);
      expect(unknown).toBeInstanceOf(OpenAI.NotFoundError);
    } finally {
      bPeer.models = models;
    }
  });
});
