// The Chain page in a real headless Chromium: the admin app served on 127.0.0.1 over a real SQLite
// chain (blocks signed by createChainLog, read by createChainQueries), with checkpoint state as values.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";
import { createSqliteChainStore } from "../chain/adapters/sqlite.ts";
import { createChainLog } from "../chain/log.ts";
import { createChainQueries } from "../chain/queries.ts";
import type { ChainAuthorityStatus } from "../chain/view.ts";
import { loadNodeKeys } from "../identity/node-keys.ts";
import { tempDir } from "../identity/test-fleet.test-helper.ts";
import { createManualClock } from "../platform/clock.ts";
import { openStore } from "../store/database.ts";
import { createHarness } from "./test-harness.test-helper.ts";

const CHROMIUM = process.env.KIANA_CHROMIUM ?? "/usr/bin/chromium";
const SHOTS = join(import.meta.dir, "../../.cache/screenshots");

const dir = tempDir("kiana-chain-browser-");
const store = openStore({ path: join(dir, "chain.db") });
const me = loadNodeKeys({ dataDir: join(dir, "me") });
const peer = loadNodeKeys({ dataDir: join(dir, "peer") });
const clock = createManualClock(1_800_000_000_000);
const chainStore = createSqliteChainStore({ store });
const mine = createChainLog({ store: chainStore, keys: me, clock });
const theirs = createChainLog({ store: chainStore, keys: peer, clock });
const queries = createChainQueries({ db: store.db });
const authority: ChainAuthorityStatus = {
  validators: [
    { fingerprint: me.fingerprint, self: true, sinceHeight: 0 },
    { fingerprint: peer.fingerprint, self: false, sinceHeight: 2 },
  ],
  majority: 2,
  latest: {
    height: 3,
    id: "ab".repeat(32),
    proposer: peer.fingerprint,
    signers: 2,
    final: true,
    ts: clock.now(),
    heads: 2,
  },
  lastFinal: {
    height: 3,
    id: "ab".repeat(32),
    proposer: peer.fingerprint,
    signers: 2,
    final: true,
    ts: clock.now(),
    heads: 2,
  },
  pending: 0,
};
const h = createHarness({
  chain: {
    ...queries,
    authors: () => queries.authors().map((a) => ({ ...a, trust: 0.5 })),
    authority: () => authority,
  },
});
let server: ReturnType<typeof Bun.serve>;
let browser: Browser;
let base: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (scripts/test does)`);
  // 60 blocks, so the newest-first list has a second page.
  for (let i = 0; i < 28; i++) {
    mine.append(i % 7 === 0 ? "vote" : "knowledge", new TextEncoder().encode(`note ${i} about the hallway`));
    theirs.append("knowledge", new TextEncoder().encode(`peer fact ${i}`));
    clock.advance(60_000);
  }
  mine.append("knowledge", new TextEncoder().encode("the kettle descaler is under the sink"));
  theirs.appendBatch([
    { type: "knowledge", body: new TextEncoder().encode("the porch light runs on a timer") },
    { type: "config", body: new TextEncoder().encode("volume 40") },
    { type: "knowledge", body: new TextEncoder().encode("<b>bold</b> claims stay text") },
  ]);
  server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (request) => h.app.handle(request) });
  base = `http://127.0.0.1:${server.port}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-sync",
    ],
  });
  mkdirSync(SHOTS, { recursive: true });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  server?.stop(true);
  h.close();
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

test("log in, open Chain, search, filter by type, page on, and read the checkpoint state", async () => {
  const page = await browser.newPage();
  page.setDefaultTimeout(15_000);
  await page.goto(`${base}/`);
  await page.fill("#code", "ABCD-EFGH");
  await page.fill("#password", "a long admin password");
  await page.fill("#confirm", "a long admin password");
  await page.click("button[type=submit]");
  await page.waitForURL(`${base}/`);

  await page.click("header nav >> text=Chain");
  await page.waitForURL(`${base}/chain`);
  const rows = page.locator("#blocks tr[data-seq]");
  await expect(rows.count()).resolves.toBe(50);
  const blocks = page.locator("#blocks");
  await expect(blocks.textContent()).resolves.toContain("the kettle descaler is under the sink");
  await expect(blocks.textContent()).resolves.toContain("<b>bold</b> claims stay text");
  await expect(page.locator("#chain-stats").textContent()).resolves.toBe(
    "60 blocks in 2 logs, 55 of them knowledge.",
  );
  await expect(page.locator("#checkpoints").textContent()).resolves.toMatch(
    /Last final\s*height 3 · 2\/2 signatures · final/,
  );
  const validators = page.locator("#validators");
  await expect(validators.locator("tr", { hasText: "this device" }).textContent()).resolves.toContain(
    me.fingerprint,
  );
  await expect(page.locator("#chain-authors").textContent()).resolves.toContain(peer.fingerprint);
  await page.screenshot({ path: join(SHOTS, "chain.png"), fullPage: true });

  await page.click("#next-page");
  await page.waitForURL(/before=/);
  await expect(rows.count()).resolves.toBe(10);
  // The second page holds the five oldest minutes of both logs.
  const oldest = (await page.locator("#blocks tr[data-seq] td:nth-child(5)").allTextContents()).sort();
  expect(oldest).toEqual([
    ...[0, 1, 2, 3, 4].map((i) => `note ${i} about the hallway`),
    ...[0, 1, 2, 3, 4].map((i) => `peer fact ${i}`),
  ]);
  await expect(page.locator("#next-page").count()).resolves.toBe(0);

  await page.goto(`${base}/chain`);
  await page.fill("#f-q", "Descaler");
  await page.click("#chain-filter button[type=submit]");
  await page.waitForURL(/q=Descaler/);
  await expect(rows.count()).resolves.toBe(1);
  await expect(rows.first().textContent()).resolves.toContain("the kettle descaler is under the sink");
  await expect(page.locator("#f-q").inputValue()).resolves.toBe("Descaler");

  await page.fill("#f-q", "");
  await page.fill("#f-type", "vote");
  await page.click("#chain-filter button[type=submit]");
  await page.waitForURL(/type=vote/);
  await expect(rows.count()).resolves.toBe(4);
  const types = await page.locator("#blocks tr[data-seq] td:nth-child(4)").allTextContents();
  expect(types).toEqual(["vote", "vote", "vote", "vote"]);

  await page.selectOption("#f-author", peer.fingerprint);
  await page.fill("#f-type", "config");
  await page.click("#chain-filter button[type=submit]");
  await page.waitForURL(/author=/);
  await expect(rows.allTextContents()).resolves.toEqual([expect.stringContaining("volume 40")]);
  await page.close();
}, 60_000);
