// Model routing between two real `kiana run` processes on the real mesh: a hub with the tiny GGUF
// imported as "assistant" and a node without any model, each in its own network namespace, enrolled
// in one fleet. The official `openai` client, run inside the node's namespace, asks the node; the
// hub's answer streams back through it. The hub killed mid-stream ends the stream in an error.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { testFleet } from "../identity/test-fleet.test-helper.ts";
import { enrolledDataDir } from "../mesh/enrolled-node.test-helper.ts";
import { createKianaHosts, type KianaHosts } from "../mesh/kiana-hosts.test-helper.ts";
import { type NetnsLan, type WatchedProcess, waitFor, watch } from "../mesh/netns.test-helper.ts";
import { writeTinyLlama } from "../models/gguf-writer.test-helper.ts";
import { readPeerSnapshot } from "./status.ts";

const MAIN = join(import.meta.dir, "..", "main.ts");
const CLIENT = join(import.meta.dir, "openai-client.test-helper.ts");
const MODEL = "assistant";
const TOKENS = { hub: "hub-api-token", node: "node-api-token" };
let hosts: KianaHosts;
let lan: NetnsLan;
/** Processes the hub started (mosquitto): killing the hub with SIGKILL leaves them behind. */
const orphans = new Set<number>();

// Short enough for a quick test, long enough that the hub stays "healthy" on the node for 4 s after
// it dies (degraded after two missed beats): the 502 branch below relies on it.
const start = (host: number, dataDir: string, name: string, extra: Record<string, string> = {}) =>
  hosts.start(host, dataDir, name, { KIANA_MESH_HEARTBEAT_SECONDS: "2", ...extra });

/** The openai client inside host namespace i, asking that host's own API on loopback. */
function ask(host: number, apiKey: string, body: Record<string, unknown>): WatchedProcess {
  return hosts.track(
    watch(
      lan.run(lan.hosts[host] as string, [
        process.execPath,
        CLIENT,
        "http://127.0.0.1:8080/v1",
        apiKey,
        JSON.stringify(body),
      ]),
    ),
  );
}

/** The client's last line, once it exits (bounded: a hang fails the test instead of stalling it). */
async function outcome(p: WatchedProcess, timeoutMs = 30_000): Promise<Record<string, unknown>> {
  const exited = await Promise.race([p.proc.exited.then(() => true), Bun.sleep(timeoutMs).then(() => false)]);
  if (!exited) {
    p.proc.kill("SIGKILL");
    throw new Error(`the client did not finish within ${timeoutMs} ms: ${JSON.stringify(p.lines)}`);
  }
  await Bun.sleep(20); // the stdout drain may trail the exit by a tick
  const last = p.lines.at(-1);
  if (!last) throw new Error(`the client printed nothing; stderr: ${p.stderr()}`);
  return last;
}

/** Every process `pid` started, its threads' children included (mosquitto, on a hub). */
function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((t) =>
      readFileSync(`/proc/${pid}/task/${t}/children`, "utf8").split(" ").filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

beforeAll(() => {
  hosts = createKianaHosts(2, "kr");
  lan = hosts.lan;
});

afterAll(async () => {
  // The orphans first: the teardown removes the namespaces they would otherwise linger in.
  for (const pid of orphans) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  await hosts?.teardown();
});

test("a node without the model streams the hub's answer; unknown model 404, bad token 401; the hub killed mid-stream ends it in an error", async () => {
  const authority = testFleet("home", Date.now());
  const hubData = enrolledDataDir(authority, "hub", "hub");
  const nodeData = enrolledDataDir(authority, "attic", "node");
  const file = join(mkdtempSync(join(tmpdir(), "kiana-routing-gguf-")), "tiny.gguf");
  writeTinyLlama(file);
  const imported = Bun.spawnSync(
    [process.execPath, MAIN, "model", "import", file, "--name", MODEL, "--json"],
    {
      env: { ...process.env, KIANA_DATA: hubData, KIANA_LOG_FORMAT: "json", KIANA_MESH_ENABLED: "false" },
      timeout: 30_000,
    },
  );
  expect(imported.stderr.toString()).toBe("");
  expect(imported.exitCode).toBe(0);

  const hub = start(0, hubData, "hub", { KIANA_MODELS_API_TOKEN: TOKENS.hub });
  const node = start(1, nodeData, "attic", { KIANA_MODELS_API_TOKEN: TOKENS.node });
  const both = [hub, node];
  const hubSeen = () => readPeerSnapshot(nodeData)?.peers.find((p) => p.name === "hub");
  await waitFor("the node to see the hub healthy", () => hubSeen()?.state === "healthy", 30_000, both);

  // The hub answers once on its own: the model is loaded, and this is the answer to match.
  const request = { model: MODEL, messages: [{ role: "user", content: "hello world" }], max_tokens: 12 };
  const direct = await outcome(ask(0, TOKENS.hub, request));
  expect(direct).toMatchObject({ event: "done", servedBy: null });
  expect((direct.text as string).length).toBeGreaterThan(0);

  // Its next heartbeats say so; the node's peer table (what `kiana status` shows) picks it up.
  const advertised = () => hubSeen()?.models?.find((m) => m.name === MODEL);
  const ms = await waitFor(
    "the hub to advertise the model loaded",
    () => !!advertised()?.loaded && hubSeen()?.state === "healthy",
    20_000,
    both,
  );
  expect(ms).toBeLessThan(20_000);
  expect(advertised()?.tokensPerSecond).toBeGreaterThan(0);

  // Through the node, streamed: the hub answered, in several deltas, the same text.
  const routed = ask(1, TOKENS.node, { ...request, stream: true });
  const done = await outcome(routed);
  expect(done).toMatchObject({ event: "done", servedBy: "hub", text: direct.text });
  expect(routed.lines[0]).toMatchObject({ event: "open", status: 200, servedBy: "hub" });
  expect(routed.lines.filter((l) => l.event === "delta").length).toBeGreaterThan(1);

  // A model nobody has: the node's own 404, in the OpenAI shape the client turns into NotFoundError.
  const missing = await outcome(ask(1, TOKENS.node, { ...request, model: "nobody-has-this" }));
  expect(missing).toMatchObject({
    event: "error",
    status: 404,
    name: "NotFoundError",
    code: "model_not_found",
    servedBy: null,
  });
  expect(missing.message).toContain("nobody-has-this");

  // The node's API wants its own bearer token: a wrong one, or none, is refused before any routing.
  const wrong = await outcome(ask(1, "not-the-token", request));
  expect(wrong).toMatchObject({
    event: "error",
    status: 401,
    name: "AuthenticationError",
    code: "invalid_api_key",
  });
  const none = await outcome(ask(1, "", request));
  expect(none).toMatchObject({ event: "error", status: 401, code: "invalid_api_key" });

  // A long stream through the node; the hub killed with SIGKILL after the first delta. No max_tokens:
  // the reply then fills what the tiny model's 256-token context leaves (~240 tokens, half a second
  // at its ~450 tokens/s here; greedy, it never stops early), where 400 would be refused as too long.
  const long = ask(1, TOKENS.node, { ...request, max_tokens: undefined, stream: true });
  await waitFor("the first routed delta", () => long.lines.some((l) => l.event === "delta"), 20_000, [
    long,
    hub,
  ]);
  for (const pid of childrenOf(hub.proc.pid)) orphans.add(pid);
  hub.proc.kill("SIGKILL");
  const killedAt = performance.now();
  const ended = await outcome(long, 15_000);
  const endedAfterMs = performance.now() - killedAt;
  expect(long.lines[0]).toMatchObject({ event: "open", status: 200, servedBy: "hub" });
  expect(ended).toMatchObject({ event: "error", servedBy: "hub" });
  expect(ended.message).toContain("peer hub");
  // Well under the forwarder's 30 s idle limit: the reset itself ended the stream, not a timer.
  expect(endedAfterMs).toBeLessThan(10_000);

  expect(node.proc.exitCode).toBeNull();
  // The next request fails fast and says why: if the broker delivered the hub's last will before it
  // went down too, the node knows the hub is gone (404: nobody has the model); if not, the hub is
  // still listed and the attempt to reach it fails (502). Never a hang.
  const after = await outcome(ask(1, TOKENS.node, request));
  expect(after.event).toBe("error");
  if (after.status === 404) expect(after.code).toBe("model_not_found");
  else {
    expect(after).toMatchObject({ status: 502, code: "peer_failed" });
    expect(after.message).toContain("peer hub did not answer");
    // Bun's advice to fetch's caller stays out of what API clients read.
    expect(after.message).not.toContain("verbose");
  }
  expect(after.ms).toBeLessThan(5_000);
}, 120_000);
