// GET /healthz: no login, `{"status":"ok"}` or 503 with the error-level problems. Kept apart from
// the Elysia app so `kiana run` can answer it before the admin app has loaded.
import type { HealthRegistry } from "../platform/health.ts";

export function healthzResponse(health: HealthRegistry): Response {
  const problems = health.list().filter((e) => e.severity === "error");
  const body =
    problems.length === 0
      ? { status: "ok" }
      : { status: "error", problems: problems.map((p) => ({ code: p.code, message: p.message })) };
  return new Response(JSON.stringify(body), {
    status: problems.length === 0 ? 200 : 503,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
  });
}
