// The FedAvg page and /api/v1/fedavg/* through app.handle: login or the API token, CSRF for changes
// from a session, a round started from the page or the API, and the rounds with their accuracy shown.
import { afterEach, expect, test } from "bun:test";
import { kianaError } from "../errors.ts";
import type { FedavgView, RoundRow } from "../fedavg/view.ts";
import type { AdminFedavg } from "./fedavg-routes.ts";
import { createHarness } from "./test-harness.test-helper.ts";

const FP = "a1".repeat(16);
const round = (n: number, over: Partial<RoundRow> = {}): RoundRow => ({
  round: n,
  phase: "released",
  startedAt: 1_800_000_000_000 + n * 60_000,
  endedAt: 1_800_000_000_000 + n * 60_000 + 5000,
  invited: 2,
  cohort: 2,
  participants: [FP, "b2".repeat(16)],
  examples: 128,
  accuracyBefore: 0.5 + n / 10,
  version: n,
  hash: `${n}`.padStart(64, "c"),
  refusals: [],
  dropped: 0,
  failure: null,
  ...over,
});

function fakeFedavg(opts: { hub?: boolean } = {}) {
  const rounds: RoundRow[] = [
    round(1),
    round(2, {
      phase: "failed",
      failure: "only 1 of 2 clients joined",
      accuracyBefore: null,
      version: null,
      hash: null,
    }),
  ];
  const view = (): FedavgView => ({
    enabled: true,
    role: opts.hub === false ? "client" : "coordinator",
    ready: true,
    task: "wake",
    spec: { kind: "logistic", inputs: 1536, hidden: 0 },
    model: { version: 1, hash: `${"c".repeat(63)}1` },
    examples: { positive: 20, negative: 44 },
    coordinator: FP,
    rounds,
    releases: [],
  });
  let busy = false;
  const fedavg: AdminFedavg = {
    view,
    apiToken: "the-api-token",
    startRound:
      opts.hub === false
        ? undefined
        : () => {
            if (busy) throw kianaError("FEDAVG_ROUND_RUNNING", "round 3 is still running");
            busy = true;
            rounds.push(round(3, { phase: "joining", endedAt: null, accuracyBefore: null, version: null }));
            return { round: 3 };
          },
  };
  return fedavg;
}

let h: ReturnType<typeof createHarness>;
afterEach(() => h?.close());

async function loggedIn(fedavg?: AdminFedavg) {
  h = createHarness({ fedavg });
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
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

test("needs a login or the API token; changes from a session need the CSRF token", async () => {
  await loggedIn(fakeFedavg());
  const csrf = ((await (await h.request("GET", "/api/v1/status")).json()) as { csrfToken: string }).csrfToken;
  expect((await h.request("POST", "/api/v1/fedavg/rounds")).status).toBe(403);
  h.jar.delete("kiana_session");
  expect((await h.request("GET", "/fedavg")).headers.get("location")).toBe("/login");
  const anon = await h.request("GET", "/api/v1/fedavg/status");
  expect(anon.status).toBe(401);
  expect((await h.request("GET", "/api/v1/fedavg/status", undefined, bearer("wrong"))).status).toBe(401);
  expect((await h.request("POST", "/api/v1/fedavg/rounds", undefined, { "x-csrf-token": csrf })).status).toBe(
    401,
  );
  const ok = await h.request("GET", "/api/v1/fedavg/status", undefined, bearer("the-api-token"));
  expect(ok.status).toBe(200);
  expect(((await ok.json()) as FedavgView).rounds.map((r) => r.phase)).toEqual(["released", "failed"]);
});

test("the API token starts a round; a second one while it runs is refused with 409 and a reason", async () => {
  await loggedIn(fakeFedavg());
  const first = await h.request("POST", "/api/v1/fedavg/rounds", undefined, bearer("the-api-token"));
  expect(first.status).toBe(202);
  expect(await first.json()).toEqual({ round: 3, started: true });
  const second = await h.request("POST", "/api/v1/fedavg/rounds", undefined, bearer("the-api-token"));
  expect(second.status).toBe(409);
  expect(await second.json()).toEqual({
    error: { code: "FEDAVG_ROUND_RUNNING", message: "round 3 is still running" },
  });
  expect(
    h.audit
      .recent(5)
      .filter((e) => e.action === "fedavg.round")
      .map((e) => e.detail),
  ).toEqual(["round 3"]);
});

test("the page lists rounds with accuracy and failures; its button starts a round and redirects", async () => {
  await loggedIn(fakeFedavg());
  const page = await (await h.request("GET", "/fedavg")).text();
  expect(page).toContain('id="rounds"');
  expect(page).toMatch(/data-accuracy="0\.6000"[^>]*>.*60\.0 %/);
  expect(page).toContain("only 1 of 2 clients joined");
  expect(page).toContain("20 wake word, 44 other");
  expect(page).not.toContain("location.reload");
  const posted = await h.request("POST", "/fedavg/rounds", { csrf: h.csrfFrom(page) });
  expect(posted.status).toBe(303);
  expect(posted.headers.get("location")).toBe("/fedavg?started=3");
  const after = await (await h.request("GET", "/fedavg?started=3")).text();
  expect(after).toContain("Round 3 started.");
  // A round in progress: the page refreshes itself, and the button is off.
  expect(after).toContain("location.reload");
  expect(after).toMatch(/id="start-round" type="submit" disabled/);
  expect((await h.request("POST", "/fedavg/rounds", { csrf: "stale" })).status).toBe(403);
});

test("on a node there is no start button and the API says only the hub starts rounds; off: 503", async () => {
  await loggedIn(fakeFedavg({ hub: false }));
  const page = await (await h.request("GET", "/fedavg")).text();
  expect(page).not.toContain('id="start-round"');
  expect(page).not.toContain('id="rounds"');
  const res = await h.request("POST", "/api/v1/fedavg/rounds", undefined, bearer("the-api-token"));
  expect(res.status).toBe(409);
  h.close();
  await loggedIn(undefined);
  expect(await (await h.request("GET", "/fedavg")).text()).toContain('id="fedavg-off"');
  const off = await h.request("GET", "/api/v1/fedavg/status");
  expect(off.status).toBe(503);
  expect(((await off.json()) as { error: { code: string } }).error.code).toBe("FEDAVG_NOT_READY");
});
