// `kiana chain sync --peer` as an operator runs it: a real `kiana run` hub on loopback serving its
// chain, and the CLI of another enrolled device pulling from it; a device of another fleet refused.

import { Database } from "bun:sqlite";
import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import { startKiana } from "../admin/kiana-process.test-helper.ts";
import { testFleet } from "../identity/test-fleet.test-helper.ts";
import { enrolledDataDir } from "../mesh/enrolled-node.test-helper.ts";

const MAIN = join(import.meta.dir, "../main.ts");
const authority = testFleet("home", Date.now() - 60_000);
const hubDir = enrolledDataDir(authority, "hub", "hub");
const piDir = enrolledDataDir(authority, "pi", "node");

function kiana(dataDir: string, ...args: string[]) {
  const proc = Bun.spawnSync([process.execPath, MAIN, "chain", ...args], {
    env: { ...process.env, KIANA_DATA: dataDir, KIANA_MESH_ENABLED: "false", KIANA_LOG_FORMAT: "json" },
    timeout: 30_000,
  });
  return { code: proc.exitCode, stdout: proc.stdout.toString(), stderr: proc.stderr.toString() };
}

test("a device pulls a running hub's chain with kiana chain sync, verifies it, and finds it in sync after", async () => {
  for (const text of [
    "the kettle is in the kitchen",
    "bins go out on tuesday",
    "wifi password is on the fridge",
  ])
    expect(kiana(hubDir, "append", "--text", text).code).toBe(0);
  const hub = await startKiana({
    env: { KIANA_DATA: hubDir, KIANA_CHAIN_CHECKPOINT_SECONDS: "0", KIANA_ADMIN_METRICS_TOKEN: "scrape-me" },
  });
  afterAll(() => hub.kill());

  const first = kiana(piDir, "sync", "--peer", hub.url);
  expect(first.stderr).toBe("");
  expect(first.stdout).toContain("3 blocks received and verified");
  expect(first.code).toBe(0);
  const shown = kiana(piDir, "show", "--grep", "tuesday", "--json");
  expect(JSON.parse(shown.stdout.trim()).text).toBe("bins go out on tuesday");
  const verify = kiana(piDir, "verify");
  expect(verify.code).toBe(0);
  expect(verify.stdout).toContain("3 blocks ok");

  const again = kiana(piDir, "sync", "--peer", hub.url, "--json");
  expect(JSON.parse(again.stdout)).toMatchObject({ inSync: true, roundTrips: 1, received: 0 });

  // The running hub counts what it served, and /metrics shows it with the chain's size.
  const metrics = await (
    await fetch(new URL("/metrics", hub.url), { headers: { authorization: "Bearer scrape-me" } })
  ).text();
  expect(metrics).toContain("kiana_chain_blocks 3");
  expect(metrics).toMatch(/kiana_chain_events_total\{event="sessions-served"\} 2/);
  expect(metrics).toMatch(/kiana_chain_validators 1/);

  const stranger = enrolledDataDir(testFleet("other", Date.now() - 60_000), "stranger", "node");
  const refused = kiana(stranger, "sync", "--peer", hub.url);
  expect(refused.code).toBe(1);
  // The stranger checks the hub first: a device of another fleet is not the peer it trusts.
  expect(refused.stderr).toMatch(
    /refused the sync server at 127.0.0.1:\d+: the server's certificate (bad-signature|wrong-fleet)/,
  );

  const audit = new Database(join(stranger, "kiana.db"), { readonly: true });
  const logged = audit.query("SELECT detail FROM audit_log WHERE action = 'chain.sync.server-refused'").all();
  audit.close();
  expect(JSON.stringify(logged)).toMatch(/certificate (bad-signature|wrong-fleet)/);

  const nowhere = kiana(piDir, "sync", "--peer", "http://127.0.0.1:9");
  expect(nowhere.code).toBe(1);
  expect(nowhere.stderr).toContain("cannot open a sync link to 127.0.0.1:9");
  expect(kiana(piDir, "sync", "--peer", "attic").stderr).toContain("no peer list here to look up attic");
}, 60_000);
