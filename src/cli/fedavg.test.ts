// `kiana fedavg status|start-round` against a stand-in for the running node's API: the bearer token
// from the data dir, the loopback address for a wildcard listener, waiting for the round's end, and
// a clear error when nothing answers.
import { afterAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../config/index.ts";
import type { FedavgView, RoundRow } from "../fedavg/view.ts";
import { tempDir } from "../identity/test-fleet.test-helper.ts";
import { localAdminUrl, runFedavgCommand } from "./fedavg.ts";
import { apiToken } from "./model-service.ts";

const data = tempDir("kiana-fedavg-cli-");
afterAll(() => rmSync(data, { recursive: true, force: true }));
const config = loadConfig({
  env: { KIANA_ADMIN_HOST: "0.0.0.0", KIANA_ADMIN_PORT: "8123" },
  flags: { data },
  deviceConfigFile: join(data, "no-device.toml"),
});

const row = (over: Partial<RoundRow>): RoundRow => ({
  round: 1,
  phase: "released",
  startedAt: 0,
  endedAt: 1,
  invited: 2,
  cohort: 2,
  participants: ["a1".repeat(16), "b2".repeat(16)],
  examples: 128,
  accuracyBefore: 0.875,
  version: 1,
  hash: "cd".repeat(32),
  refusals: [],
  dropped: 0,
  failure: null,
  ...over,
});
const view = (rounds: RoundRow[]): FedavgView => ({
  enabled: true,
  role: "coordinator",
  ready: true,
  task: "wake",
  spec: { kind: "logistic", inputs: 1536, hidden: 0 },
  model: { version: 1, hash: "cd".repeat(32) },
  examples: { positive: 0, negative: 0 },
  coordinator: "a1".repeat(16),
  rounds,
  releases: [],
});

/** A node whose round 2 is running for `polls` status calls, then ends as `phase`. */
function node(polls: number, phase: RoundRow["phase"]) {
  const calls: { method: string; url: string; auth: string | null }[] = [];
  let left = polls;
  const fetch = async (url: string, init: RequestInit) => {
    calls.push({ method: init.method ?? "GET", url, auth: new Headers(init.headers).get("authorization") });
    if (init.method === "POST") return Response.json({ round: 2, started: true }, { status: 202 });
    const running = left-- > 0;
    const r2 = row({ round: 2, phase: running ? "collecting" : phase, endedAt: running ? null : 2 });
    if (phase === "failed" && !running)
      Object.assign(r2, { failure: "only 1 of 2 clients joined", version: null });
    return Response.json(view([row({}), r2]));
  };
  return { calls, fetch };
}

test("start-round waits for the round's end and prints it; the token is the device's API token", async () => {
  const n = node(3, "released");
  const out: string[] = [];
  const code = await runFedavgCommand("start-round", {}, false, config, {
    fetch: n.fetch,
    out: (t) => void out.push(t),
    sleep: async () => {},
  });
  expect(code).toBe(0);
  expect(localAdminUrl(config)).toBe("http://127.0.0.1:8123");
  expect(n.calls[0]).toEqual({
    method: "POST",
    url: "http://127.0.0.1:8123/api/v1/fedavg/rounds",
    auth: `Bearer ${apiToken(config)}`,
  });
  expect(n.calls).toHaveLength(5);
  expect(out.join("")).toMatch(/round 2 started\n.*\n2 +released +2\/2 +128 +87\.5% +v1 cdcdcdcdcdcd/);
});

test("a failed round exits 1 with its reason; --json prints the row", async () => {
  const n = node(0, "failed");
  const out: string[] = [];
  const code = await runFedavgCommand("start-round", {}, true, config, {
    fetch: n.fetch,
    out: (t) => void out.push(t),
    sleep: async () => {},
  });
  expect(code).toBe(1);
  expect(JSON.parse(out.join(""))).toMatchObject({
    round: 2,
    phase: "failed",
    failure: "only 1 of 2 clients joined",
  });
});

test("status prints the view; errors from the node and an absent node are named", async () => {
  const out: string[] = [];
  expect(
    await runFedavgCommand("status", {}, false, config, {
      fetch: node(0, "released").fetch,
      out: (t) => void out.push(t),
    }),
  ).toBe(0);
  expect(out.join("")).toContain("role:      coordinator");
  const refusing = async () =>
    Response.json(
      { error: { code: "FEDAVG_NOT_READY", message: "FedAvg is off on this device" } },
      { status: 503 },
    );
  await expect(runFedavgCommand("status", {}, false, config, { fetch: refusing })).rejects.toThrow(
    /FedAvg is off on this device \(FEDAVG_NOT_READY\)/,
  );
  const absent = async () => {
    throw new Error("Unable to connect");
  };
  await expect(runFedavgCommand("status", {}, false, config, { fetch: absent })).rejects.toThrow(
    /cannot reach the running node at http:\/\/127\.0\.0\.1:8123/,
  );
  await expect(runFedavgCommand("stop", {}, false, config)).rejects.toThrow(/unknown fedavg command stop/);
});
