import { afterEach, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { kianaError } from "../errors.ts";
import { createHarness } from "./test-harness.test-helper.ts";

let h: ReturnType<typeof createHarness>;
afterEach(() => h?.close());

async function setUp(harness: ReturnType<typeof createHarness>, password = "correct horse battery") {
  const page = await (await harness.request("GET", "/setup")).text();
  return harness.request("POST", "/setup", {
    csrf: harness.csrfFrom(page),
    code: "abcd efgh",
    password,
    confirm: password,
  });
}

async function login(harness: ReturnType<typeof createHarness>, password: string) {
  const page = await (await harness.request("GET", "/login")).text();
  return harness.request("POST", "/login", { csrf: harness.csrfFrom(page), password });
}

describe("first-run setup", () => {
  test("everything leads to /setup until the admin password is set", async () => {
    h = createHarness();
    expect((await h.request("GET", "/")).headers.get("location")).toBe("/setup");
    expect((await h.request("GET", "/login")).headers.get("location")).toBe("/setup");
    const page = await h.request("GET", "/setup");
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("setup code");
    expect(existsSync(join(h.dataDir, "setup-code"))).toBe(true);
  });

  test("wrong code, short password and mismatch are refused with a reason; the right code sets up", async () => {
    h = createHarness();
    const csrf = async () => h.csrfFrom(await (await h.request("GET", "/setup")).text());
    const wrong = await h.request("POST", "/setup", {
      csrf: await csrf(),
      code: "ZZZZ-ZZZZ",
      password: "x".repeat(12),
      confirm: "x".repeat(12),
    });
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).toContain("setup code is not right");
    const short = await h.request("POST", "/setup", {
      csrf: await csrf(),
      code: "ABCD-EFGH",
      password: "short",
      confirm: "short",
    });
    expect(short.status).toBe(400);
    expect(await short.text()).toContain("at least 10 characters");
    const mismatch = await h.request("POST", "/setup", {
      csrf: await csrf(),
      code: "ABCD-EFGH",
      password: "a".repeat(12),
      confirm: "b".repeat(12),
    });
    expect(await mismatch.text()).toContain("not the same");

    const ok = await setUp(h);
    expect(ok.status).toBe(303);
    expect(ok.headers.get("location")).toBe("/");
    const sessionCookie = ok.headers.getSetCookie().find((c) => c.startsWith("kiana_session="));
    expect(sessionCookie).toContain("HttpOnly");
    expect(sessionCookie).toContain("SameSite=Strict");
    expect(existsSync(join(h.dataDir, "setup-code"))).toBe(false);
    const overview = await h.request("GET", "/");
    expect(overview.status).toBe(200);
    const body = await overview.text();
    expect(body).toContain("Raspberry Pi 5 Model B Rev 1.0");
    expect(body).toContain("51.5 °C");
    expect(body).toMatch(
      /<td>kitchen<\/td><td>satellite<\/td><td class="ok">healthy<\/td><td>10\.0\.0\.7<\/td>/,
    );
    expect(Buffer.byteLength(body)).toBeLessThan(100 * 1024);
    // Setup cannot be run twice.
    expect((await h.request("GET", "/setup")).headers.get("location")).toBe("/login");
    expect(h.audit.recent(10).map((e) => e.action)).toEqual(["setup.done", "setup.bad_code"]);
  });
});

describe("login", () => {
  test("wrong password is refused; the right one gives a session; logout ends it", async () => {
    h = createHarness();
    await setUp(h);
    h.jar.clear();
    expect((await h.request("GET", "/")).headers.get("location")).toBe("/login");
    const bad = await login(h, "not the password");
    expect(bad.status).toBe(401);
    expect(await bad.text()).toContain("Wrong password.");
    const good = await login(h, "correct horse battery");
    expect(good.status).toBe(303);
    const page = await (await h.request("GET", "/")).text();
    expect(page).toContain("Log out");

    const api = await h.request("GET", "/api/v1/status");
    expect(api.status).toBe(200);
    expect(((await api.json()) as { node: { name: string } }).node.name).toBe("test-node");

    const out = await h.request("POST", "/logout", { csrf: h.csrfFrom(page) });
    expect(out.headers.get("location")).toBe("/login?out");
    expect((await h.request("GET", "/api/v1/status")).status).toBe(401);
  });

  test("repeated wrong passwords get a growing delay, even for the right password, until it passes", async () => {
    h = createHarness();
    await setUp(h);
    h.jar.clear();
    for (let i = 0; i < 4; i++) expect((await login(h, `wrong ${i}`)).status).toBe(401);
    const blocked = await login(h, "correct horse battery");
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get("retry-after")).toBe("1");
    h.advance(1000);
    expect((await login(h, "wrong again")).status).toBe(401);
    const longer = await login(h, "correct horse battery");
    expect(longer.status).toBe(429);
    expect(longer.headers.get("retry-after")).toBe("2");
    h.advance(2000);
    expect((await login(h, "correct horse battery")).status).toBe(303);
  });

  test("a session expires", async () => {
    h = createHarness();
    await setUp(h);
    expect((await h.request("GET", "/api/v1/status")).status).toBe(200);
    h.advance(3_600_001);
    expect((await h.request("GET", "/api/v1/status")).status).toBe(401);
  });
});

describe("CSRF", () => {
  test("forms without the token, or with another one, are rejected", async () => {
    h = createHarness();
    await h.request("GET", "/setup");
    const noToken = await h.request("POST", "/setup", {
      code: "ABCD-EFGH",
      password: "x".repeat(12),
      confirm: "x".repeat(12),
    });
    expect(noToken.status).toBe(403);
    const forged = await h.request("POST", "/setup", {
      csrf: "forged",
      code: "ABCD-EFGH",
      password: "x".repeat(12),
      confirm: "x".repeat(12),
    });
    expect(forged.status).toBe(403);
    // A cross-site form post arrives without our SameSite=Strict cookies at all.
    const crossSite = await h.request("POST", "/setup", { csrf: "x", code: "ABCD-EFGH" }, { cookie: "" });
    expect(crossSite.status).toBe(403);
    expect(h.setupCode.peek()).toBe("ABCD-EFGH");

    await setUp(h);
    const logout = await h.request("POST", "/logout", { csrf: "not-the-session-token" });
    expect(logout.status).toBe(403);
    expect((await h.request("GET", "/api/v1/status")).status).toBe(200);
  });
});

describe("unauthenticated endpoints", () => {
  test("/healthz needs no login and turns 503 with reasons on an error", async () => {
    h = createHarness();
    const ok = await h.request("GET", "/healthz");
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ status: "ok" });
    h.health.set({ code: "STORE_CORRUPT", severity: "error", message: "database failed its check" });
    const bad = await h.request("GET", "/healthz");
    expect(bad.status).toBe(503);
    expect(await bad.json()).toEqual({
      status: "error",
      problems: [{ code: "STORE_CORRUPT", message: "database failed its check" }],
    });
  });

  test("/api/v1/status without a session is a 401 JSON error", async () => {
    h = createHarness();
    const res = await h.request("GET", "/api/v1/status");
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("ADMIN_UNAUTHORIZED");
  });

  test("/metrics takes the configured bearer token and speaks Prometheus text", async () => {
    h = createHarness({ metricsToken: "s3cret-token" });
    expect((await h.request("GET", "/metrics")).status).toBe(401);
    expect((await h.request("GET", "/metrics", undefined, { authorization: "Bearer nope" })).status).toBe(
      401,
    );
    const res = await h.request("GET", "/metrics", undefined, { authorization: "Bearer s3cret-token" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain; version=0.0.4");
    const text = await res.text();
    expect(text).toContain('kiana_info{version="0.0.0-test",role="hub",node="test-node"} 1');
    expect(text).toMatch(/^kiana_uptime_seconds 42$/m);
    expect(text).toContain('kiana_mesh_refused_total{reason="replay"} 3');
    expect(text).toContain('kiana_mesh_peers{state="healthy"} 1');
    expect(text).toContain('kiana_mesh_messages_total{event="delivered"} 2');
    expect(text).toContain('kiana_mesh_transfers_total{event="receivedBytes"} 52428800');
  });

  test("unknown paths are a 404", async () => {
    h = createHarness();
    expect((await h.request("GET", "/nope")).status).toBe(404);
  });
});

describe("peers page", () => {
  test("lists peers with state, address and fingerprint, behind the login", async () => {
    h = createHarness();
    expect((await h.request("GET", "/peers")).headers.get("location")).toBe("/setup");
    await setUp(h);
    const page = await h.request("GET", "/peers");
    expect(page.status).toBe(200);
    const body = await page.text();
    expect(body).toMatch(
      /<td>kitchen<\/td><td>satellite<\/td><td class="ok">healthy<\/td><td>10\.0\.0\.7<\/td><td><code>ab<\/code><\/td>/,
    );
    h.jar.clear();
    expect((await h.request("GET", "/peers")).headers.get("location")).toBe("/login");
  });
});

describe("mesh API", () => {
  test("sending a direct message needs a session and the CSRF header; unknown peers are a 404", async () => {
    const sent: string[] = [];
    h = createHarness({
      sendDirect: async (to, type, payload) => {
        if (to !== "kitchen") throw kianaError("MESH_PEER_UNKNOWN", `no enrolled device called ${to}`);
        sent.push(`${to}/${type}/${new TextDecoder().decode(payload)}`);
        return { id: "0011" };
      },
    });
    const body = JSON.stringify({ to: "kitchen", text: "dinner is ready" });
    const json = { "content-type": "application/json" };
    expect(
      (
        await h.app.handle(
          new Request("http://localhost/api/v1/mesh/messages", { method: "POST", body, headers: json }),
        )
      ).status,
    ).toBe(401);
    await setUp(h);
    const { csrfToken } = (await (await h.request("GET", "/api/v1/status")).json()) as { csrfToken: string };
    const postRaw = async (b: string, headers: Record<string, string>) => {
      const cookie = [...h.jar].map(([k, v]) => `${k}=${v}`).join("; ");
      return h.app.handle(
        new Request("http://localhost/api/v1/mesh/messages", {
          method: "POST",
          body: b,
          headers: { ...json, cookie, ...headers },
        }),
      );
    };
    expect((await postRaw(body, {})).status).toBe(403);
    const ok = await postRaw(body, { "x-csrf-token": csrfToken });
    expect(ok.status).toBe(202);
    expect(await ok.json()).toEqual({ id: "0011", queued: true });
    expect(sent).toEqual(["kitchen/note/dinner is ready"]);
    const unknown = await postRaw(JSON.stringify({ to: "garage", text: "x" }), { "x-csrf-token": csrfToken });
    expect(unknown.status).toBe(404);
    expect((await postRaw("not json", { "x-csrf-token": csrfToken })).status).toBe(400);
    const peers = (await (await h.request("GET", "/api/v1/mesh/peers")).json()) as {
      peers: { name: string }[];
    };
    expect(peers.peers.map((p) => p.name)).toEqual(["kitchen"]);
  });

  test("offering a file needs a session and the CSRF header; answers 202 with the offer, 400/404 otherwise", async () => {
    const offered: string[] = [];
    h = createHarness({
      sendFile: async (to, path) => {
        if (to !== "attic") throw kianaError("MESH_PEER_UNKNOWN", `no enrolled device called ${to}`);
        if (path !== "/srv/models/voice.onnx")
          throw kianaError("TRANSFER_SOURCE_MISSING", `no file at ${path}`);
        offered.push(`${to}:${path}`);
        return { id: "ab12", name: "voice.onnx", size: 5, sha256: "00" };
      },
    });
    const post = async (body: string, headers: Record<string, string> = {}) => {
      const cookie = [...h.jar].map(([k, v]) => `${k}=${v}`).join("; ");
      const res = await h.app.handle(
        new Request("http://localhost/api/v1/mesh/files", {
          method: "POST",
          body,
          headers: { "content-type": "application/json", cookie, ...headers },
        }),
      );
      return {
        status: res.status,
        json: (await res.json()) as Record<string, unknown> & { error?: { code: string } },
      };
    };
    const good = JSON.stringify({ to: "attic", path: "/srv/models/voice.onnx" });
    expect((await post(good)).status).toBe(401);
    await setUp(h);
    expect((await post(good)).status).toBe(403);
    const { csrfToken } = (await (await h.request("GET", "/api/v1/status")).json()) as { csrfToken: string };
    const csrf = { "x-csrf-token": csrfToken };
    const ok = await post(good, csrf);
    expect(ok).toEqual({ status: 202, json: { id: "ab12", name: "voice.onnx", bytes: 5, sha256: "00" } });
    expect(offered).toEqual(["attic:/srv/models/voice.onnx"]);
    const relative = await post(JSON.stringify({ to: "attic", path: "models/voice.onnx" }), csrf);
    expect([relative.status, relative.json.error?.code]).toEqual([400, "TRANSFER_SOURCE_INVALID"]);
    expect((await post("{", csrf)).status).toBe(400);
    const missing = await post(JSON.stringify({ to: "attic", path: "/srv/nothing" }), csrf);
    expect([missing.status, missing.json.error?.code]).toEqual([404, "TRANSFER_SOURCE_MISSING"]);
    const stranger = await post(JSON.stringify({ to: "garage", path: "/srv/models/voice.onnx" }), csrf);
    expect([stranger.status, stranger.json.error?.code]).toEqual([404, "MESH_PEER_UNKNOWN"]);
    expect(offered).toHaveLength(1);
  });

  test("before joining a fleet, sending is a 503", async () => {
    h = createHarness();
    await setUp(h);
    const { csrfToken } = (await (await h.request("GET", "/api/v1/status")).json()) as { csrfToken: string };
    const cookie = [...h.jar].map(([k, v]) => `${k}=${v}`).join("; ");
    const res = await h.app.handle(
      new Request("http://localhost/api/v1/mesh/messages", {
        method: "POST",
        body: JSON.stringify({ to: "kitchen", text: "hi" }),
        headers: { "content-type": "application/json", cookie, "x-csrf-token": csrfToken },
      }),
    );
    expect(res.status).toBe(503);
  });
});
