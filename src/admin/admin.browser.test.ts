// A person's first visit, in a real headless Chromium against a real `kiana run` process.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";
import { type KianaProcess, startKiana } from "./kiana-process.test-helper.ts";

const CHROMIUM = process.env.KIANA_CHROMIUM ?? "/usr/bin/chromium";
const SHOTS = join(import.meta.dir, "../../.cache/screenshots");

let kiana: KianaProcess;
let browser: Browser;

beforeAll(async () => {
  // Starting kiana and Chromium takes a few seconds on a 2-core machine.
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (scripts/test does)`);
  kiana = await startKiana();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // playwright gives each launch a fresh temporary profile of its own.
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  mkdirSync(SHOTS, { recursive: true });
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await kiana?.kill();
});

test("first-run setup, logout, login, and the overview shows this machine's hardware", async () => {
  expect(kiana.setupCode).toMatch(/^[0-9A-Z]{4}-[0-9A-Z]{4}$/);
  const page = await browser.newPage();
  page.setDefaultTimeout(15_000);

  await page.goto(kiana.url);
  expect(new URL(page.url()).pathname).toBe("/setup");
  await page.fill("#code", (kiana.setupCode ?? "").toLowerCase());
  await page.fill("#password", "a long admin password");
  await page.fill("#confirm", "a long admin password");
  await page.screenshot({ path: join(SHOTS, "setup.png") });
  await page.click("button[type=submit]");
  await page.waitForURL(kiana.url);

  const hardware = page.locator("#hardware");
  await expect(hardware.textContent()).resolves.toMatch(/CPU\s*\d+ cores/);
  await expect(page.locator("#stat-memory-used").textContent()).resolves.toMatch(/GiB/);
  await page.screenshot({ path: join(SHOTS, "overview.png"), fullPage: true });

  await page.click("text=Log out");
  await page.waitForURL(/\/login\?out$/);
  await expect(page.locator("p.ok").textContent()).resolves.toContain("logged out");

  await page.fill("#password", "not it");
  // Wait for the server's answer, not only the click: a loaded machine may take a while to hash.
  const answer = await Promise.all([
    page.waitForResponse((r) => r.request().method() === "POST" && new URL(r.url()).pathname === "/login"),
    page.click("button[type=submit]"),
  ]).then(([res]) => res);
  if (answer.status() !== 401)
    throw new Error(`wrong password got HTTP ${answer.status()}: ${kiana.output().slice(-2000)}`);
  expect(await answer.text()).toContain("Wrong password");
  // The browser then shows that answer; if it does not, say what it shows instead.
  await page.waitForLoadState("domcontentloaded");
  const alert = await page
    .locator("[role=alert]")
    .textContent({ timeout: 30_000 })
    .catch(async (err) => {
      throw new Error(`no alert on ${page.url()} (${err}); page: ${(await page.content()).slice(0, 1500)}`);
    });
  expect(alert).toContain("Wrong password");

  await page.fill("#password", "a long admin password");
  await page.click("button[type=submit]");
  await page.waitForURL(kiana.url);
  await expect(page.locator("h2").first().textContent()).resolves.toBe("This device");
  await page.close();
}, 90_000);
