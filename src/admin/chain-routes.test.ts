// The Chain page, /api/v1/chain/* and the chain's /metrics lines, through app.handle: a fake chain
// of plain values for the routes' own behaviour, and the real SQLite queries for the wiring.
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { createSqliteChainStore } from "../chain/adapters/sqlite.ts";
import { createChainLog } from "../chain/log.ts";
import { createChainQueries } from "../chain/queries.ts";
import type { BlockFilter, BlockRowView, ChainAuthorityStatus } from "../chain/view.ts";
import { loadNodeKeys } from "../identity/node-keys.ts";
import { tempDir } from "../identity/test-fleet.test-helper.ts";
import { createManualClock } from "../platform/clock.ts";
import { openStore } from "../store/database.ts";
import type { AdminChain } from "./chain-routes.ts";
import { createHarness } from "./test-harness.test-helper.ts";

const A = "a1".repeat(16);
const B = "b2".repeat(16);
const row = (author: string, seq: number, ts: number, type: string, text?: string): BlockRowView => ({
  author,
  seq,
  ts,
  type,
  text,
  bytes: text?.length ?? 9,
  hash: "00".repeat(32),
});
const BLOCKS = [
  row(B, 1, 1_800_000_300_000, "knowledge", "<script>alert(1)</script> the kettle is white"),
  row(A, 2, 1_800_000_200_000, "config", "volume 40"),
  row(A, 1, 1_800_000_100_000, "model-release"),
  row(A, 0, 1_800_000_000_000, "knowledge", "the spare key is under the mat"),
];
const AUTHORITY: ChainAuthorityStatus = {
  validators: [
    { fingerprint: A, self: true, sinceHeight: 0 },
    { fingerprint: B, self: false, sinceHeight: 4 },
  ],
  majority: 2,
  latest: {
    height: 7,
    id: "cd".repeat(32),
    proposer: B,
    signers: 1,
    final: false,
    ts: 1_800_000_400_000,
    heads: 2,
  },
  lastFinal: {
    height: 6,
    id: "ef".repeat(32),
    proposer: A,
    signers: 2,
    final: true,
    ts: 1_800_000_350_000,
    heads: 2,
  },
  pending: 1,
};

/** A chain of fixed values that records the filters it was asked for. */
function fakeChain(authority: ChainAuthorityStatus | null = AUTHORITY) {
  const asked: BlockFilter[] = [];
  const chain: AdminChain = {
    list: (filter) => {
      asked.push(filter);
      return BLOCKS.slice(0, filter.limit);
    },
    authors: () => [
      { author: A, length: 3, signedLength: 3, trust: 0.5 },
      { author: B, length: 2, signedLength: 1, trust: 0.875 },
    ],
    stats: () => ({ blocks: 5, authors: 2, knowledge: 2 }),
    authority: authority ? () => authority : undefined,
    counters: () => ({ appended: 4, refused: 1 }),
  };
  return { chain, asked };
}

let h: ReturnType<typeof createHarness>;
afterEach(() => h?.close());

async function loggedIn(chain?: AdminChain) {
  h = createHarness({ chain });
  const page = await (await h.request("GET", "/setup")).text();
  const password = "correct horse battery";
  await h.request("POST", "/setup", {
    csrf: h.csrfFrom(page),
    code: "ABCD-EFGH",
    password,
    confirm: password,
  });
  return h;
}
const getJson = async (path: string) => {
  const res = await h.request("GET", path);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

describe("chain API", () => {
  test("needs a login: the page sends to /login, the JSON answers 401", async () => {
    await loggedIn(fakeChain().chain);
    h.jar.delete("kiana_session");
    expect((await h.request("GET", "/chain")).headers.get("location")).toBe("/login");
    for (const path of ["/api/v1/chain/blocks", "/api/v1/chain/authors", "/api/v1/chain/status"]) {
      const { status, body } = await getJson(path);
      expect(status).toBe(401);
      expect(body.error).toMatchObject({ code: "ADMIN_UNAUTHORIZED" });
    }
  });

  test("blocks: the query string becomes a checked filter, and a full page gives the next cursor", async () => {
    const { chain, asked } = fakeChain();
    await loggedIn(chain);
    const before = `1800000300000.${B}.1`;
    const q = `author=${A.toUpperCase()}&type=knowledge&since=2027-01-15&q=${encodeURIComponent("kettle *")}&limit=2&before=${before}`;
    const { status, body } = await getJson(`/api/v1/chain/blocks?${q}`);
    expect(status).toBe(200);
    expect(asked).toEqual([
      {
        author: A,
        type: "knowledge",
        since: Date.UTC(2027, 0, 15),
        text: "kettle *",
        limit: 2,
        before: { ts: 1_800_000_300_000, author: B, seq: 1 },
      },
    ]);
    expect(body.blocks).toEqual(JSON.parse(JSON.stringify(BLOCKS.slice(0, 2))));
    expect(body.next).toBe(`1800000200000.${A}.2`);
    // Empty values are absent, as an untouched form sends them; a short page is the last one.
    const last = await getJson("/api/v1/chain/blocks?author=&type=&since=&q=+&before=");
    expect(asked[1]).toEqual({ limit: 50 });
    expect(last.body.next).toBeNull();
    expect((await getJson("/api/v1/chain/blocks?since=1800000000000")).status).toBe(200);
    expect(asked[2]).toEqual({ limit: 50, since: 1_800_000_000_000 });
  });

  test("every bad parameter is a 400 naming it, and nothing is queried", async () => {
    const { chain, asked } = fakeChain();
    await loggedIn(chain);
    const bad: [string, string][] = [
      ["author", "abc"],
      ["author", `${A}0`],
      ["type", "Bad Type"],
      ["type", "x".repeat(40)],
      ["since", "yesterday"],
      ["since", "2026-13-45"],
      ["since", "9".repeat(17)],
      ["q", "x".repeat(201)],
      ["limit", "0"],
      ["limit", "501"],
      ["limit", "1.5"],
      ["limit", "ten"],
      ["before", "1800000000000"],
      ["before", `1800000000000.${A}.x`],
      ["before", `99999999999999999.${A}.1`],
    ];
    for (const [param, value] of bad) {
      const { status, body } = await getJson(`/api/v1/chain/blocks?${param}=${encodeURIComponent(value)}`);
      expect({ param, status }).toEqual({ param, status: 400 });
      const error = body.error as { code: string; message: string };
      expect([error.code, error.message.split(" ")[0]]).toEqual(["ADMIN_BAD_REQUEST", param]);
    }
    expect(asked).toEqual([]);
  });

  test("authors and status answer the chain's values", async () => {
    await loggedIn(fakeChain().chain);
    expect((await getJson("/api/v1/chain/authors")).body.authors).toEqual([
      { author: A, length: 3, signedLength: 3, trust: 0.5 },
      { author: B, length: 2, signedLength: 1, trust: 0.875 },
    ]);
    expect((await getJson("/api/v1/chain/status")).body).toEqual({
      stats: { blocks: 5, authors: 2, knowledge: 2 },
      authority: JSON.parse(JSON.stringify(AUTHORITY)),
      counters: { appended: 4, refused: 1 },
    });
    h.close();
    await loggedIn(fakeChain(null).chain);
    expect((await getJson("/api/v1/chain/status")).body.authority).toBeNull();
  });

  test("without a chain the page says so and the API is a 503", async () => {
    await loggedIn(undefined);
    const page = await h.request("GET", "/chain");
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("The chain is not available on this device.");
    const { status, body } = await getJson("/api/v1/chain/blocks");
    expect(status).toBe(503);
    expect(body.error).toMatchObject({ message: "the chain is not available on this device" });
    const metrics = await (await h.request("GET", "/metrics")).text();
    expect(metrics).not.toContain("kiana_chain_");
  });
});

describe("chain page", () => {
  test("shows blocks escaped, checkpoints, validators and authors, with a Chain link in the header", async () => {
    await loggedIn(fakeChain().chain);
    const body = await (await h.request("GET", "/chain?limit=2&q=kettle")).text();
    expect(body).toContain('<a href="/chain">Chain</a>');
    expect(body).toContain("&lt;script&gt;alert(1)&lt;/script&gt; the kettle is white");
    expect(body).not.toContain("<script>alert(1)");
    expect(body).toContain("volume 40");
    expect(body).not.toContain("spare key");
    expect(body).toContain('<input id="f-q" name="q" type="search" value="kettle"');
    expect(body).toContain(
      `<a id="next-page" href="/chain?limit=2&amp;q=kettle&amp;before=1800000200000.${A}.2">`,
    );
    expect(body).toMatch(/Latest<\/th><td>height 7 · 1\/2 signatures · not final/);
    expect(body).toMatch(/Last final<\/th><td>height 6 · 2\/2 signatures · final/);
    expect(body).toMatch(/Pending<\/th><td>1</);
    expect(body).toContain(`<code>${A}</code> <strong class="ok">this device</strong></td><td>0</td>`);
    expect(body).toContain(`<code>${B}</code></td><td>4</td>`);
    expect(body).toContain(`<code>${B}</code></a></td><td>2</td><td>1</td><td>0.88</td>`);
    expect(body).toContain("5 blocks in 2 logs, 2 of them knowledge.");
    // Every logged-in page links to it.
    expect(await (await h.request("GET", "/peers")).text()).toContain('<a href="/chain">Chain</a>');
  });

  test("says when there are no checkpoints, and when authority is not tracked", async () => {
    await loggedIn(
      fakeChain({ validators: [{ fingerprint: A, self: true, sinceHeight: 0 }], majority: 1, pending: 0 })
        .chain,
    );
    const body = await (await h.request("GET", "/chain")).text();
    expect(body).toContain("No checkpoints yet.");
    expect(body).toContain("this device");
    expect(body).toContain("End of the list.");
    expect(body).toContain("9 bytes, not text");
    h.close();
    await loggedIn(fakeChain(null).chain);
    expect(await (await h.request("GET", "/chain")).text()).toContain("does not track checkpoints");
  });

  test("a bad filter is a 400 page that names the problem and keeps what was typed", async () => {
    const { chain, asked } = fakeChain();
    await loggedIn(chain);
    const res = await h.request("GET", "/chain?since=soon&q=%22x%22");
    expect(res.status).toBe(400);
    const body = await res.text();
    expect(body).toContain('role="alert">since must be a date');
    expect(body).toContain('name="since" type="date" value="soon"');
    expect(body).toContain('value="&quot;x&quot;"');
    expect(asked).toEqual([]);
  });

  test("/metrics has chain gauges, event counters and the authority's figures", async () => {
    await loggedIn(fakeChain().chain);
    const text = await (await h.request("GET", "/metrics")).text();
    expect(text).toContain("# TYPE kiana_chain_blocks gauge\nkiana_chain_blocks 5\n");
    expect(text).toContain("kiana_chain_authors 2\n");
    expect(text).toContain("# TYPE kiana_chain_events_total counter\n");
    expect(text).toContain('kiana_chain_events_total{event="appended"} 4\n');
    expect(text).toContain('kiana_chain_events_total{event="refused"} 1\n');
    expect(text).toContain("kiana_chain_validators 2\n");
    expect(text).toContain("kiana_chain_final_height 6\n");
  });
});

describe("wired to the SQLite queries", () => {
  const dir = tempDir("kiana-chain-routes-");
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const store = openStore({ path: join(dir, "kiana.db") });
  afterAll(() => store.close());
  const keys = loadNodeKeys({ dataDir: dir });
  const clock = createManualClock(1_800_000_000_000);
  const log = createChainLog({ store: createSqliteChainStore({ store }), keys, clock });
  for (let i = 0; i < 23; i++) {
    log.append(i % 4 === 0 ? "vote" : "knowledge", new TextEncoder().encode(`fact ${i} about room ${i % 5}`));
    clock.advance(1000);
  }
  log.append("knowledge", new TextEncoder().encode("the kettle is in the kitchen"));
  const queries = createChainQueries({ db: store.db });
  const chain: AdminChain = {
    ...queries,
    authors: () => queries.authors().map((a) => ({ ...a, trust: 0.5 })),
  };

  test("search finds the one block, hostile searches are empty, and pages cover the chain once", async () => {
    await loggedIn(chain);
    const hit = await getJson("/api/v1/chain/blocks?q=KITCHEN");
    expect((hit.body.blocks as BlockRowView[]).map((b) => [b.seq, b.text])).toEqual([
      [23, "the kettle is in the kitchen"],
    ]);
    for (const q of ['"', "AND(", "*", "NEAR(", "a:b"]) {
      const r = await getJson(`/api/v1/chain/blocks?q=${encodeURIComponent(q)}`);
      expect({ q, status: r.status, blocks: r.body.blocks }).toEqual({ q, status: 200, blocks: [] });
    }
    const seqs: number[] = [];
    let next: unknown = "";
    for (let pages = 0; next !== null && pages < 10; pages++) {
      const r = await getJson(`/api/v1/chain/blocks?limit=5&before=${next}`);
      seqs.push(...(r.body.blocks as BlockRowView[]).map((b) => b.seq));
      next = r.body.next;
    }
    expect(seqs).toEqual(Array.from({ length: 24 }, (_, i) => 23 - i));
    const page = await (await h.request("GET", "/chain?type=vote")).text();
    expect(page.match(/<tr data-author/g)).toHaveLength(6);
    expect((await getJson("/api/v1/chain/status")).body.stats).toEqual({
      blocks: 24,
      authors: 1,
      knowledge: 18,
    });
  });
});
