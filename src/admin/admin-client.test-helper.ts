// A scripted admin: first-run setup with the printed code (or a login), then JSON POSTs to one API path. Integration
// tests run it inside a network namespace: `bun admin-client.test-helper.ts <base-url> <setup-code> <api-path> <json>...`.
import { createCookieClient } from "./cookie-client.ts";

const [base, code, apiPath, ...bodies] = process.argv.slice(2) as [string, string, string, ...string[]];
const call = createCookieClient(base, 10_000);

const password = "integration test password";
/** First-run setup with the code; when that was done by an earlier run, a login with the same password. */
async function signIn(): Promise<Response> {
  const first = await call("/setup");
  const setUp = first.status !== 200;
  const page = await (setUp ? await call("/login") : first).text();
  const csrf = /name="csrf" value="([^"]+)"/.exec(page)?.[1] ?? "";
  const form = setUp
    ? new URLSearchParams({ csrf, password })
    : new URLSearchParams({ csrf, code, password, confirm: password });
  return call(setUp ? "/login" : "/setup", {
    method: "POST",
    body: form,
    headers: { "content-type": "application/x-www-form-urlencoded" },
  });
}
const setup = await signIn();
const status = (await (await call("/api/v1/status")).json()) as { csrfToken?: string };
// One line per call, in order: the setup status, then each answer.
for (const body of bodies) {
  const sent = await call(apiPath, {
    method: "POST",
    body,
    headers: { "content-type": "application/json", "x-csrf-token": status.csrfToken ?? "" },
  });
  console.log(JSON.stringify({ setup: setup.status, status: sent.status, body: await sent.json() }));
}
