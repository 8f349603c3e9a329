// The LAN admin app (Elysia): first-run setup, login, the overview page, /healthz, the JSON API
// and /metrics. Everything but /healthz needs a login (or, for /metrics, the configured token).
import { randomBytes, timingSafeEqual } from "node:crypto";
import { Elysia } from "elysia";
import { describeError, isKianaError } from "../errors.ts";
import type { HealthRegistry } from "../platform/health.ts";
import type { Logger } from "../platform/log.ts";
import type { AuditLog, LoginLimiter } from "../security/index.ts";
import { type Accounts, MIN_PASSWORD_LENGTH } from "./accounts.ts";
import { type AdminChain, createChainRoutes } from "./chain-routes.ts";
import { type AdminFedavg, createFedavgRoutes } from "./fedavg-routes.ts";
import { type AdminFleet, createFleetRoutes } from "./fleet-routes.ts";
import { healthzResponse } from "./healthz.ts";
import { cookie, htmlResponse, jsonError, jsonResponse, parseCookies, readForm, redirect } from "./http.ts";
import { renderMetrics } from "./metrics.ts";
import type { createModelRoutes } from "./model-routes.ts";
import { loginPage, type OverviewModel, overviewPage, peersPage, setupPage, statsCells } from "./pages.ts";
import type { SetupCodeKeeper } from "./setup-code.ts";

export interface AdminStatus {
  node: { name: string; role: string; fleet: string; fingerprint: string };
  version: string;
  uptimeSeconds: number;
  profileRows: [string, string][];
  engines: { name: string; state: string; reason: string | null }[];
  stats: OverviewModel["stats"];
  /** Devices this node knows: enrolled (roster), seen over mDNS, with their health when heard. */
  peers: OverviewModel["peers"];
  /** Refused mesh messages by reason, for /metrics. */
  refusals: { reason: string; count: number }[];
  /** Direct-message and file-transfer counters by event, for /metrics; empty before joining. */
  messages?: Record<string, number>;
  transfers?: Record<string, number>;
}

export interface AdminAppDeps {
  accounts: Accounts;
  setupCode: SetupCodeKeeper;
  limiter: LoginLimiter;
  audit: AuditLog;
  health: HealthRegistry;
  log: Logger;
  metricsToken: string;
  sessionMs: number;
  /** Everything the overview and /api/v1/status show, gathered on request. */
  status(): Promise<AdminStatus>;
  /** This device's name and role, for page headers. */
  node: { name: string; role: string };
  /** The peer table alone: the Peers page needs no hardware or CPU sampling. */
  peers(): AdminStatus["peers"];
  /** Client address for rate limiting; `app.handle` in tests has no socket. */
  clientKey?(request: Request): string;
  /** Sends an end-to-end encrypted direct message; absent until this device has joined a fleet. */
  sendDirect?(to: string, type: string, payload: Uint8Array): Promise<{ id: string }>;
  /** Offers a file on this device to a peer; absent until this device has joined a fleet. */
  sendFile?(to: string, path: string): Promise<{ id: string; name: string; size: number; sha256: string }>;
  /** Block list, logs and checkpoint state for the Chain page; absent where the chain is not running. */
  chain?: AdminChain;
  /** The model registry's routes (list, upload with progress, remove); absent: 503. */
  models?: ReturnType<typeof createModelRoutes>;
  /** Federated training: page, status and rounds (src/cli/fedavg-service.ts); absent: FedAvg is off. */
  fedavg?: AdminFedavg;
  /** Public keys, membership and enrolment over HTTP; absent: not in status, join answers 503. */
  fleet?: AdminFleet;
}

const SESSION = "kiana_session";
const PRE_CSRF = "kiana_csrf";

function sameToken(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function createAdminApp(deps: AdminAppDeps) {
  const { accounts, setupCode, limiter, audit, health, log } = deps;
  const clientKey = deps.clientKey ?? (() => "local");

  const session = (request: Request) => {
    const token = parseCookies(request.headers.get("cookie"))[SESSION];
    const s = accounts.getSession(token);
    return s ? { token: token as string, ...s } : null;
  };

  /** Forms before login use a double-submit cookie; after login the session's own token. */
  const freshPreCsrf = () => randomBytes(18).toString("base64url");
  const preCsrfOk = (request: Request, form: Record<string, string>) =>
    sameToken(parseCookies(request.headers.get("cookie"))[PRE_CSRF], form.csrf);

  const chain = createChainRoutes({
    chain: deps.chain,
    node: deps.node,
    isSetUp: () => accounts.isSetUp(),
    session,
  });

  /** JSON routes: a session for reading, and the session's CSRF token in x-csrf-token for changes. */
  const refuse = (request: Request, change: boolean): Response | undefined => {
    const s = session(request);
    if (!s) return jsonError(401, "ADMIN_UNAUTHORIZED", "log in first: this API needs an admin session");
    if (change && !sameToken(request.headers.get("x-csrf-token") ?? undefined, s.csrfToken))
      return jsonError(
        403,
        "ADMIN_FORBIDDEN",
        "missing or wrong x-csrf-token header (GET /api/v1/status gives it)",
      );
    return undefined;
  };
  const guarded = (
    request: Request,
    change: boolean,
    fn: (m: NonNullable<AdminAppDeps["models"]>) => Response | Promise<Response>,
  ) =>
    refuse(request, change) ??
    (deps.models
      ? fn(deps.models)
      : jsonError(503, "MODEL_NOT_FOUND", "the model registry is not running on this device"));
  const fleet = createFleetRoutes({ fleet: deps.fleet, audit, clientKey });

  const forbidden = () =>
    htmlResponse(
      "<h1>403</h1><p>The form was stale or came from another site. Reload the page and try again.</p>",
      403,
    );

  return new Elysia()
    .onError(({ error, code }) => {
      if (code === "NOT_FOUND") return jsonError(404, "ADMIN_BAD_REQUEST", "no such page");
      log.error({ err: describeError(error) }, "admin request failed");
      const status = isKianaError(error) && error.code.startsWith("ADMIN_") ? 400 : 500;
      return jsonError(status, isKianaError(error) ? error.code : "ADMIN_BAD_REQUEST", describeError(error));
    })
    .get("/healthz", () => healthzResponse(health))
    .get("/", async ({ request }) => {
      if (!accounts.isSetUp()) return redirect("/setup");
      const s = session(request);
      if (!s) return redirect("/login");
      const st = await deps.status();
      return htmlResponse(
        overviewPage({
          nodeName: st.node.name,
          role: st.node.role,
          version: st.version,
          fingerprint: st.node.fingerprint,
          uptimeSeconds: st.uptimeSeconds,
          profileRows: st.profileRows,
          engines: st.engines,
          stats: st.stats,
          peers: st.peers,
          health: health.list(),
          csrfToken: s.csrfToken,
        }),
      );
    })
    .get("/peers", ({ request }) => {
      if (!accounts.isSetUp()) return redirect("/setup");
      const s = session(request);
      if (!s) return redirect("/login");
      return htmlResponse(
        peersPage({
          nodeName: deps.node.name,
          role: deps.node.role,
          peers: deps.peers(),
          csrfToken: s.csrfToken,
        }),
      );
    })
    .get("/chain", ({ request }) => chain.page(request))
    .use(createFedavgRoutes({ ...deps, isSetUp: () => accounts.isSetUp(), session, clientKey }))
    .get("/setup", () => {
      if (accounts.isSetUp()) return redirect("/login");
      setupCode.ensure();
      const csrf = freshPreCsrf();
      return htmlResponse(setupPage({ csrf }), 200, [cookie(PRE_CSRF, csrf, 3600)]);
    })
    .post("/setup", async ({ request }) => {
      if (accounts.isSetUp()) return redirect("/login");
      const form = await readForm(request);
      if (!form || !preCsrfOk(request, form)) return forbidden();
      const again = (error: string, status: number) => {
        const csrf = freshPreCsrf();
        return htmlResponse(setupPage({ csrf, error }), status, [cookie(PRE_CSRF, csrf, 3600)]);
      };
      const key = clientKey(request);
      const wait = limiter.retryAfterMs(key);
      if (wait > 0) return again(`Too many wrong attempts. Try again in ${Math.ceil(wait / 1000)} s.`, 429);
      if (!setupCode.check(form.code ?? "")) {
        limiter.failure(key);
        audit.append({ actor: key, action: "setup.bad_code" });
        return again(
          "That setup code is not right. Use the code printed by kiana at start (or run kiana status).",
          401,
        );
      }
      const password = form.password ?? "";
      if (password.length < MIN_PASSWORD_LENGTH)
        return again(`The password needs at least ${MIN_PASSWORD_LENGTH} characters.`, 400);
      if (password !== form.confirm) return again("The two passwords are not the same.", 400);
      await accounts.setPassword(password);
      setupCode.consume();
      limiter.success(key);
      audit.append({ actor: key, action: "setup.done" });
      log.info("admin password set; setup complete");
      const { token } = accounts.createSession();
      return redirect("/", [cookie(SESSION, token, deps.sessionMs / 1000), cookie(PRE_CSRF, "", 0)]);
    })
    .get("/login", ({ request }) => {
      if (!accounts.isSetUp()) return redirect("/setup");
      if (session(request)) return redirect("/");
      const csrf = freshPreCsrf();
      const notice = new URL(request.url).searchParams.has("out") ? "You are logged out." : undefined;
      return htmlResponse(loginPage({ csrf, notice }), 200, [cookie(PRE_CSRF, csrf, 3600)]);
    })
    .post("/login", async ({ request }) => {
      if (!accounts.isSetUp()) return redirect("/setup");
      const form = await readForm(request);
      if (!form || !preCsrfOk(request, form)) return forbidden();
      const key = clientKey(request);
      const again = (error: string, status: number, headers: Record<string, string> = {}) => {
        const csrf = freshPreCsrf();
        const res = htmlResponse(loginPage({ csrf, error }), status, [cookie(PRE_CSRF, csrf, 3600)]);
        for (const [k, v] of Object.entries(headers)) res.headers.set(k, v);
        return res;
      };
      const wait = limiter.retryAfterMs(key);
      if (wait > 0) {
        const seconds = Math.ceil(wait / 1000);
        return again(`Too many wrong passwords. Try again in ${seconds} s.`, 429, {
          "retry-after": String(seconds),
        });
      }
      if (!(await accounts.checkPassword(form.password ?? ""))) {
        limiter.failure(key);
        audit.append({ actor: key, action: "login.failed" });
        return again("Wrong password.", 401);
      }
      limiter.success(key);
      audit.append({ actor: key, action: "login.ok" });
      const { token } = accounts.createSession();
      return redirect("/", [cookie(SESSION, token, deps.sessionMs / 1000), cookie(PRE_CSRF, "", 0)]);
    })
    .post("/logout", async ({ request }) => {
      const s = session(request);
      const form = await readForm(request);
      if (!s) return redirect("/login");
      if (!form || !sameToken(form.csrf, s.csrfToken)) return forbidden();
      accounts.deleteSession(s.token);
      audit.append({ actor: clientKey(request), action: "logout" });
      return redirect("/login?out", [cookie(SESSION, "", 0)]);
    })
    .get("/api/v1/status", async ({ request }) => {
      if (!session(request))
        return jsonError(401, "ADMIN_UNAUTHORIZED", "log in first: this API needs an admin session");
      const st = await deps.status();
      return jsonResponse({
        ...st,
        ...fleet.statusFields(),
        health: health.list(),
        statsCells: statsCells(st.stats),
        // JSON calls that change something send this back in x-csrf-token.
        csrfToken: session(request)?.csrfToken,
      });
    })
    .get("/api/v1/mesh/peers", ({ request }) => {
      if (!session(request))
        return jsonError(401, "ADMIN_UNAUTHORIZED", "log in first: this API needs an admin session");
      return jsonResponse({ peers: deps.peers() });
    })
    .get("/api/v1/models", ({ request }) => guarded(request, false, (m) => m.list(request)))
    .get("/api/v1/models/uploads", ({ request }) => guarded(request, false, (m) => m.uploads(request)))
    .post("/api/v1/models/upload", ({ request }) => guarded(request, true, (m) => m.upload(request)), {
      parse: "none",
    })
    .delete("/api/v1/models/:id", ({ request, params }) =>
      guarded(request, true, (m) => m.remove(request, params.id)),
    )
    .get("/api/v1/chain/blocks", ({ request }) => chain.blocks(request))
    .get("/api/v1/chain/authors", ({ request }) => chain.authors(request))
    .get("/api/v1/chain/status", ({ request }) => chain.status(request))
    .post("/api/v1/fleet/join", ({ request }) => refuse(request, true) ?? fleet.join(request), {
      parse: "none",
    })
    .post("/api/v1/mesh/messages", async ({ request }) => {
      const refused = refuse(request, true);
      if (refused) return refused;
      if (!deps.sendDirect)
        return jsonError(503, "MESH_PEER_UNKNOWN", "this device has not joined a fleet yet");
      let body: { to?: unknown; type?: unknown; text?: unknown };
      try {
        body = (await request.json()) as typeof body;
      } catch {
        return jsonError(400, "ADMIN_BAD_REQUEST", 'the body must be JSON: {"to": node, "text": message}');
      }
      const type = body.type ?? "note";
      if (typeof body.to !== "string" || typeof body.text !== "string" || typeof type !== "string") {
        return jsonError(400, "ADMIN_BAD_REQUEST", '"to" and "text" must be strings');
      }
      if (body.text.length > 64 * 1024) return jsonError(400, "ADMIN_BAD_REQUEST", '"text" is over 64 KiB');
      try {
        const { id } = await deps.sendDirect(body.to, type, new TextEncoder().encode(body.text));
        audit.append({ actor: clientKey(request), action: "mesh.message", detail: `to ${body.to}` });
        return jsonResponse({ id, queued: true }, 202);
      } catch (err) {
        const code = isKianaError(err) ? err.code : "ADMIN_BAD_REQUEST";
        return jsonError(code === "MESH_PEER_UNKNOWN" ? 404 : 400, code, describeError(err));
      }
    })
    .post("/api/v1/mesh/files", async ({ request }) => {
      const refused = refuse(request, true);
      if (refused) return refused;
      if (!deps.sendFile)
        return jsonError(503, "MESH_PEER_UNKNOWN", "this device has not joined a fleet yet");
      const body = (await request.json().catch(() => undefined)) as
        | { to?: unknown; path?: unknown }
        | undefined;
      if (typeof body?.to !== "string" || typeof body.path !== "string")
        return jsonError(
          400,
          "ADMIN_BAD_REQUEST",
          'the body must be JSON: {"to": node, "path": "/absolute/file"}',
        );
      if (!body.path.startsWith("/"))
        return jsonError(400, "TRANSFER_SOURCE_INVALID", `"path" must be absolute, not ${body.path}`);
      try {
        const offer = await deps.sendFile(body.to, body.path);
        audit.append({
          actor: clientKey(request),
          action: "mesh.file",
          detail: `${body.path} to ${body.to}`,
        });
        return jsonResponse({ id: offer.id, name: offer.name, bytes: offer.size, sha256: offer.sha256 }, 202);
      } catch (err) {
        const code = isKianaError(err) ? err.code : "TRANSFER_FAILED";
        const notFound = code === "MESH_PEER_UNKNOWN" || code === "TRANSFER_SOURCE_MISSING";
        return jsonError(notFound ? 404 : 400, code, describeError(err));
      }
    })
    .get("/metrics", async ({ request }) => {
      const auth = request.headers.get("authorization") ?? "";
      const bearer = auth.startsWith("Bearer ") ? auth.slice(7) : undefined;
      const tokenOk = deps.metricsToken !== "" && sameToken(bearer, deps.metricsToken);
      if (!tokenOk && !session(request)) {
        return jsonError(401, "ADMIN_UNAUTHORIZED", "send the metrics token as a bearer token, or log in", {
          "www-authenticate": 'Bearer realm="kiana"',
        });
      }
      const st = await deps.status();
      return new Response(renderMetrics(st, health.list(), chain.metrics()), {
        headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
      });
    });
}

export type AdminApp = ReturnType<typeof createAdminApp>;
