// Forwarding to a peer over real HTTP on 127.0.0.1: a scripted peer that streams, dies, stalls or never
// answers, and the OpenAI handler that consults the route.
import { afterAll, describe, expect, test } from "bun:test";
import { testPeers } from "../mesh/transfer/transfer.test-helper.ts";
import { createOpenAiApi, type OpenAiApiOptions } from "./openai-api.ts";
import { createPeerForwarder, FORWARDED_HEADER, plainFailure, SERVED_BY_HEADER } from "./peer-forwarder.ts";
import { createPeerRoute } from "./peer-route.ts";
import type { RoutablePeer } from "./routing.ts";

const { alice, bob, clock } = testPeers();
const enc = new TextEncoder();
const chunk = (n: number) => `data: {"n":${n}}\n\n`;
const seen: { model: string; path: string; headers: Headers; aborted: () => boolean }[] = [];

/** The peer's answer, scripted by the requested model's name. */
function script(model: string, signal: AbortSignal): Response {
  const sse = (parts: string[], end: "done" | "die" | "stall") => {
    let i = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        await Bun.sleep(10);
        if (i < parts.length) return c.enqueue(enc.encode(parts[i++]));
        if (end === "done") return c.close();
        if (end === "die") return c.error(new Error("peer crashed"));
        await new Promise((r) => signal.addEventListener("abort", r)); // stalls until the caller gives up
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  };
  const json = { id: "chatcmpl-peer", object: "chat.completion", choices: [] };
  if (model === "good") return sse([chunk(1), chunk(2), chunk(3), "data: [DONE]\n\n"], "done");
  if (model === "dies") return sse([chunk(1), chunk(2)], "die");
  if (model === "dies-inside") return sse([chunk(1), 'data: {"n":'], "die");
  if (model === "stalls") return sse([chunk(1), chunk(2)], "stall");
  if (model === "json") return Response.json(json);
  if (model === "json-dies") {
    const text = JSON.stringify(json);
    let sent = false;
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        if (sent) {
          await Bun.sleep(30);
          return c.error(new Error("peer crashed"));
        }
        sent = true;
        c.enqueue(enc.encode(text.slice(0, 9)));
      },
    });
    return new Response(body, {
      headers: { "content-type": "application/json", "content-length": `${text.length}` },
    });
  }
  return Response.json(
    {
      error: {
        message: "no such model",
        type: "invalid_request_error",
        param: "model",
        code: "model_not_found",
      },
    },
    { status: 404 },
  );
}

const fake = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  async fetch(req) {
    const { model } = (await req.json()) as { model: string };
    seen.push({
      model,
      path: new URL(req.url).pathname,
      headers: req.headers,
      aborted: () => req.signal.aborted,
    });
    if (model === "silent") await new Promise((r) => req.signal.addEventListener("abort", r));
    return script(model, req.signal);
  },
});
afterAll(() => fake.stop(true));

const forwarder = (o: { idleMs?: number; totalMs?: number } = {}) =>
  createPeerForwarder({ seal: alice.auth.seal, clock, ...o });
const target = (port = fake.port ?? 0) => ({
  name: "bob",
  fingerprint: bob.fp,
  url: `http://127.0.0.1:${port}`,
});
const ask = (model: string, stream: boolean) => ({
  model,
  stream,
  messages: [{ role: "user", content: "hi" }],
});
const forward = (model: string, stream = true, o: { idleMs?: number; totalMs?: number } = {}) =>
  forwarder(o).forward(target(), "/v1/chat/completions", ask(model, stream));
/** The data of each SSE event, parsed where it is JSON. */
const events = (text: string) =>
  text
    .split("\n\n")
    .filter((e) => e.startsWith("data: "))
    .map((e) => e.slice(6))
    .map((d) => (d === "[DONE]" ? d : (JSON.parse(d) as { n?: number; error?: Record<string, unknown> })));

describe("streaming answers", () => {
  test("the peer's events arrive unchanged, with the peer's name in a header", async () => {
    const res = await forward("good");
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    expect(res.headers.get(SERVED_BY_HEADER)).toBe("bob");
    expect(await res.text()).toBe(`${chunk(1)}${chunk(2)}${chunk(3)}data: [DONE]\n\n`);
  });

  test("a peer that dies after two chunks: the chunks, then a peer_failed event, then the end", async () => {
    const t0 = performance.now();
    const got = events(await (await forward("dies")).text());
    expect(got.slice(0, 2)).toEqual([{ n: 1 }, { n: 2 }]);
    expect(got).toHaveLength(3);
    expect(got[2]).toMatchObject({ error: { type: "server_error", code: "peer_failed" } });
    expect(String((got[2] as { error: { message: string } }).error.message)).toStartWith(
      "peer bob stopped answering mid-stream: ",
    );
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  test("a peer that stalls is given up after the idle timeout, and its connection is closed", async () => {
    const t0 = performance.now();
    const text = await (await forward("stalls", true, { idleMs: 200 })).text();
    const elapsed = performance.now() - t0;
    const got = events(text);
    expect(got.slice(0, 2)).toEqual([{ n: 1 }, { n: 2 }]);
    expect(got[2]).toMatchObject({
      error: { code: "peer_failed", message: "peer bob stopped answering mid-stream: nothing for 0.2 s" },
    });
    expect(elapsed).toBeGreaterThanOrEqual(200);
    expect(elapsed).toBeLessThan(2000);
    await Bun.sleep(50);
    expect(seen.findLast((s) => s.model === "stalls")?.aborted()).toBe(true);
  });

  test("a peer dying inside an event: the error still arrives as an event of its own", async () => {
    const text = await (await forward("dies-inside")).text();
    expect(text.startsWith(`${chunk(1)}data: {"n":\n\ndata: {"error"`)).toBe(true);
    expect(JSON.parse(text.split("\n\n").at(-2)?.slice(6) ?? "")).toMatchObject({
      error: { code: "peer_failed" },
    });
  });

  test("a stream closed cleanly but unfinished (no [DONE]) is reported too", async () => {
    const raw = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        data(sock) {
          sock.write("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n");
          sock.write(chunk(1));
          sock.end();
        },
      },
    });
    try {
      const res = await forwarder().forward(target(raw.port), "/v1/chat/completions", ask("x", true));
      expect(events(await res.text())).toMatchObject([
        { n: 1 },
        {
          error: {
            message: "peer bob stopped answering mid-stream: the stream ended before the answer was complete",
          },
        },
      ]);
    } finally {
      raw.stop(true);
    }
  });
});

describe("whole answers", () => {
  test("pass through unchanged, errors with their status", async () => {
    const ok = await forward("json", false);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ id: "chatcmpl-peer", object: "chat.completion", choices: [] });
    const missing = await forward("unknown", false);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: "model_not_found" } });
  });

  test("a peer dying mid-body, never answering, or not there at all: 502 in OpenAI's shape", async () => {
    const shape = { type: "server_error", param: null, code: "peer_failed" };
    const died = await forward("json-dies", false);
    expect(died.status).toBe(502);
    expect(await died.json()).toMatchObject({
      error: { ...shape, message: expect.stringContaining("peer bob failed mid-answer") },
    });
    const t0 = performance.now();
    const silent = await forward("silent", false, { totalMs: 300 });
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(silent.status).toBe(502);
    expect(await silent.json()).toMatchObject({
      error: { ...shape, message: "peer bob did not answer: no complete answer within 0.3 s" },
    });
    const gone = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
    const port = gone.port;
    await gone.stop(true);
    const refused = await forwarder().forward(target(port), "/v1/chat/completions", ask("good", true));
    expect(refused.status).toBe(502);
    expect(await refused.json()).toMatchObject({
      error: { ...shape, message: expect.stringContaining("peer bob did not answer") },
    });
  });
});

describe("through the OpenAI handler", () => {
  const asPeer: RoutablePeer = {
    name: "bob",
    role: "node",
    fingerprint: bob.fp,
    state: "healthy",
    addresses: ["127.0.0.1"],
    adminPort: fake.port ?? 0,
    models: ["good", "json"].map((name) => ({ name, loaded: true })),
  };
  const nodeA = (o: Partial<OpenAiApiOptions> = {}) =>
    createOpenAiApi({
      models: () => [],
      chat: { start: () => Promise.reject(new Error("no local chat")) },
      embed: () => Promise.reject(new Error("no local embeddings")),
      bearerToken: "token-a",
      route: createPeerRoute({ peers: () => [asPeer], forwarder: forwarder(), routeModels: [] }),
      ...o,
    });
  const post = (body: object, headers: Record<string, string> = {}) =>
    new Request("http://a.local/v1/chat/completions", {
      method: "POST",
      body: JSON.stringify(body),
      headers: { authorization: "Bearer token-a", "content-type": "application/json", ...headers },
    });

  test("a model this node lacks is answered by the peer, which never sees the client's token", async () => {
    const res = await nodeA().handle(post(ask("good", true)));
    expect(await res?.text()).toBe(`${chunk(1)}${chunk(2)}${chunk(3)}data: [DONE]\n\n`);
    const at = seen.findLast((s) => s.model === "good")?.headers;
    expect(at?.get("authorization")).toStartWith("Kiana-Envelope ");
    expect(at?.get(FORWARDED_HEADER)).toBe("1");
    expect([...(at?.values() ?? [])].join(" ")).not.toContain("token-a");
  });

  test("routeModels sends a model this node has to the peer; with no peer for it, 503", async () => {
    const local = { id: "json", name: "J", path: "/m/j.gguf", kind: "gguf" as const };
    const route = createPeerRoute({
      peers: () => [asPeer],
      forwarder: forwarder(),
      routeModels: ["json", "absent"],
    });
    const forced = nodeA({ models: () => [local], route });
    const res = await forced.handle(post(ask("json", false)));
    expect(await res?.json()).toMatchObject({ id: "chatcmpl-peer" });
    const none = await forced.handle(post(ask("absent", false)));
    expect(none?.status).toBe(503);
    expect(await none?.json()).toMatchObject({ error: { code: "no_peer_available", param: "model" } });
  });

  test("embeddings take the same way, to the peer's /v1/embeddings", async () => {
    const res = await nodeA().handle(
      new Request("http://a.local/v1/embeddings", {
        method: "POST",
        body: JSON.stringify({ model: "json", input: "hi" }),
        headers: { authorization: "Bearer token-a" },
      }),
    );
    expect(res?.status).toBe(200);
    expect(seen.at(-1)).toMatchObject({ model: "json", path: "/v1/embeddings" });
  });

  test("a forwarded request is never forwarded again", async () => {
    const before = seen.length;
    const res = await nodeA().handle(post(ask("good", true), { [FORWARDED_HEADER]: "1" }));
    expect(res?.status).toBe(404);
    expect(await res?.json()).toMatchObject({ error: { code: "model_not_found" } });
    expect(seen.length).toBe(before);
  });
});

test("network errors read plainly: Bun's advice to fetch's caller is cut", () => {
  const err = new Error(
    "The socket connection was closed unexpectedly. For more information, pass `verbose: true` in the second argument to fetch()",
  );
  expect(plainFailure(err)).toBe("The socket connection was closed unexpectedly.");
  expect(plainFailure(new Error("ECONNREFUSED: Unable to connect."))).toBe(
    "ECONNREFUSED: Unable to connect.",
  );
});
