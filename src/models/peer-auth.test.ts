// The serving side of forwarded requests: the mesh token opens /v1 to enrolled peers only, once per
// token, in whatever order parallel requests arrive.
import { afterAll, describe, expect, test } from "bun:test";
import { DEFAULT_MAX_SKEW_MS } from "../mesh/replay-guard.ts";
import { testPeers } from "../mesh/transfer/transfer.test-helper.ts";
import type { ChatService } from "./chat.ts";
import { createOpenAiApi } from "./openai-api.ts";
import { createPeerTokenCheck, createWindowReplayGuard, peerToken } from "./peer-auth.ts";
import { createPeerForwarder } from "./peer-forwarder.ts";

const { alice, bob, mallory, clock } = testPeers();
const ask = (model: string, stream: boolean) => ({
  model,
  stream,
  messages: [{ role: "user", content: "hi" }],
});
const forwarder = () => createPeerForwarder({ seal: alice.auth.seal, clock });

describe("the window replay guard", () => {
  const T = 1_700_000_000_000;
  test("any unseen sequence passes, a seen one never, and old ones fall to the clock check", () => {
    const g = createWindowReplayGuard();
    const pass = (seq: number, ts = T, now = T) => {
      const v = g.check("a", seq, ts, now);
      if (v.ok) g.accept("a", seq);
      return v.ok ? "ok" : v.reason;
    };
    expect([pass(5), pass(3), pass(4), pass(3), pass(5)]).toEqual(["ok", "ok", "ok", "replay", "replay"]);
    expect(g.check("b", 3, T, T).ok).toBe(true); // senders are apart
    const later = T + DEFAULT_MAX_SKEW_MS + 1;
    expect(pass(3, T, later)).toBe("clock-skew");
    expect(pass(6, later, later)).toBe("ok");
  });

  test("a flood of tokens keeps memory bounded: the oldest become a floor", () => {
    const g = createWindowReplayGuard();
    let accepted = 0;
    for (let seq = 1; seq <= 5000; seq++) {
      if (!g.check("a", seq, T, T).ok) continue;
      g.accept("a", seq);
      accepted++;
    }
    expect(accepted).toBe(5000);
    expect(g.check("a", 100, T, T)).toMatchObject({ ok: false, reason: "replay" });
    expect(g.check("a", 5001, T, T).ok).toBe(true);
  });
});

describe("the serving side checks the peer token", () => {
  const chat: Pick<ChatService, "start"> = {
    async start() {
      const result = {
        text: "Hello",
        finishReason: "stop" as const,
        promptTokens: 3,
        completionTokens: 2,
        evaluatedTokens: 3,
      };
      async function* deltas() {
        yield "Hello";
      }
      return { ok: true, promptTokens: 3, result: Promise.resolve(result), [Symbol.asyncIterator]: deltas };
    },
  };
  const nodeB = createOpenAiApi({
    models: () => [{ id: "tiny", name: "Tiny", path: "/m/tiny.gguf", kind: "gguf" }],
    chat,
    embed: () => Promise.reject(new Error("unused")),
    bearerToken: "token-b",
    peerAuth: createPeerTokenCheck({
      open: bob.auth.opener(createWindowReplayGuard()),
      audience: () => bob.fp,
      now: () => clock.now(),
    }),
  });
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: async (r) => (await nodeB.handle(r)) ?? new Response(null, { status: 404 }),
  });
  afterAll(() => server.stop(true));
  const url = `http://127.0.0.1:${server.port}`;
  const send = (authorization: string) =>
    fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization, "content-type": "application/json" },
      body: JSON.stringify(ask("tiny", false)),
    });

  test("an enrolled peer's token opens it; another fleet's, or one for another node, is 401", async () => {
    const viaAlice = await forwarder().forward(
      { name: "bob", fingerprint: bob.fp, url },
      "/v1/chat/completions",
      ask("tiny", false),
    );
    expect(viaAlice.status).toBe(200);
    expect(await viaAlice.json()).toMatchObject({ choices: [{ message: { content: "Hello" } }] });
    const viaMallory = createPeerForwarder({ seal: mallory.auth.seal, clock });
    const outsider = await viaMallory.forward(
      { name: "bob", fingerprint: bob.fp, url },
      "/v1/chat/completions",
      ask("tiny", false),
    );
    expect(outsider.status).toBe(401);
    expect(await outsider.json()).toMatchObject({ error: { code: "invalid_api_key" } });
    expect((await send(peerToken(alice.auth.seal, alice.fp, clock.now()))).status).toBe(401);
    expect((await send("Kiana-Envelope bm9wZQ")).status).toBe(401);
  });

  test("tokens racing each other are all accepted, but none twice", async () => {
    const [first, second] = [
      peerToken(alice.auth.seal, bob.fp, clock.now()),
      peerToken(alice.auth.seal, bob.fp, clock.now()),
    ];
    expect((await send(second)).status).toBe(200);
    expect((await send(first)).status).toBe(200);
    expect((await send(first)).status).toBe(401);
  });
});
