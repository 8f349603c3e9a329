// FedAvg's part of the admin app: the /fedavg page and /api/v1/fedavg/*. The JSON API takes an admin
// session (with its CSRF token for changes) or the device's API bearer token, which is how
// `kiana fedavg status|start-round` on the device itself reaches the running node.
import { timingSafeEqual } from "node:crypto";
import { Elysia } from "elysia";
import { describeError, isKianaError } from "../errors.ts";
import type { FedavgView } from "../fedavg/view.ts";
import type { AuditLog } from "../security/index.ts";
import { fedavgPage } from "./fedavg-page.ts";
import { htmlResponse, jsonError, jsonResponse, readForm, redirect } from "./http.ts";

/** What the composition root hands the admin app about FedAvg (src/cli/fedavg-service.ts). */
export interface AdminFedavg {
  view(): FedavgView;
  /** Starts a round and returns at once; only on the hub. Throws FEDAVG_* errors naming the problem. */
  startRound?(): { round: number };
  /** The bearer token the CLI sends (models.apiToken or <data>/api-token). */
  apiToken: string;
}

function same(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function createFedavgRoutes(opts: {
  fedavg?: AdminFedavg;
  node: { name: string; role: string };
  isSetUp(): boolean;
  session(request: Request): { csrfToken: string } | null;
  audit: AuditLog;
  clientKey(request: Request): string;
}) {
  const { fedavg, audit } = opts;
  const bearer = (request: Request) => {
    const auth = request.headers.get("authorization") ?? "";
    return fedavg !== undefined && auth.startsWith("Bearer ") && same(auth.slice(7), fedavg.apiToken);
  };
  /** A session (plus CSRF for changes) or the bearer token; otherwise the refusal to send. */
  const refuse = (request: Request, change: boolean): Response | undefined => {
    if (bearer(request)) return undefined;
    const s = opts.session(request);
    if (!s)
      return jsonError(
        401,
        "ADMIN_UNAUTHORIZED",
        "log in first, or send the device's API token as a bearer token",
      );
    if (change && !same(request.headers.get("x-csrf-token") ?? undefined, s.csrfToken))
      return jsonError(
        403,
        "ADMIN_FORBIDDEN",
        "missing or wrong x-csrf-token header (GET /api/v1/status gives it)",
      );
    return undefined;
  };
  const off = () =>
    jsonError(503, "FEDAVG_NOT_READY", "FedAvg is off on this device (set fedavg.enabled = true)");

  /** Starts a round, answering with the round number or why it cannot start. */
  const start = (
    request: Request,
  ): { ok: true; round: number } | { ok: false; status: number; response: Response } => {
    if (!fedavg) return { ok: false, status: 503, response: off() };
    if (!fedavg.startRound)
      return {
        ok: false,
        status: 409,
        response: jsonError(409, "FEDAVG_NOT_READY", "only the hub coordinates FedAvg rounds"),
      };
    try {
      const { round } = fedavg.startRound();
      audit.append({ actor: opts.clientKey(request), action: "fedavg.round", detail: `round ${round}` });
      return { ok: true, round };
    } catch (err) {
      const code = isKianaError(err) ? err.code : "FEDAVG_NOT_READY";
      const status = code === "FEDAVG_ROUND_RUNNING" ? 409 : 503;
      return { ok: false, status, response: jsonError(status, code, describeError(err)) };
    }
  };

  const page = (request: Request, extra: { notice?: string; error?: string } = {}, status = 200) => {
    if (!opts.isSetUp()) return redirect("/setup");
    const s = opts.session(request);
    if (!s) return redirect("/login");
    return htmlResponse(
      fedavgPage({
        nodeName: opts.node.name,
        role: opts.node.role,
        csrfToken: s.csrfToken,
        fedavg: fedavg?.view(),
        canStart: fedavg?.startRound !== undefined,
        ...extra,
      }),
      status,
    );
  };

  return new Elysia()
    .get("/fedavg", ({ request }) => {
      const started = new URL(request.url).searchParams.get("started");
      return page(
        request,
        started && /^\d{1,9}$/.test(started) ? { notice: `Round ${started} started.` } : {},
      );
    })
    .post(
      "/fedavg/rounds",
      async ({ request }) => {
        const s = opts.session(request);
        if (!s) return redirect("/login");
        const form = await readForm(request);
        if (!form || !same(form.csrf, s.csrfToken))
          return htmlResponse("<h1>403</h1><p>The form was stale. Reload the page and try again.</p>", 403);
        const r = start(request);
        // Post/redirect/get: a reload of the page does not start another round.
        if (r.ok) return redirect(`/fedavg?started=${r.round}`);
        const body = (await r.response.json()) as { error: { message: string } };
        return page(request, { error: body.error.message }, r.status);
      },
      { parse: "none" },
    )
    .get("/api/v1/fedavg/status", ({ request }) => {
      const refused = refuse(request, false);
      if (refused) return refused;
      return fedavg ? jsonResponse(fedavg.view()) : off();
    })
    .post(
      "/api/v1/fedavg/rounds",
      ({ request }) => {
        const refused = refuse(request, true);
        if (refused) return refused;
        const r = start(request);
        return r.ok ? jsonResponse({ round: r.round, started: true }, 202) : r.response;
      },
      { parse: "none" },
    );
}
