// A scripted admin: first-run setup with the printed code, then one JSON call. Integration tests run
// it inside a network namespace: `bun admin-client.test-helper.ts <base-url> <setup-code> <to> <text>`.
const [base, code, to, text] = process.argv.slice(2) as [string, string, string, string];
const jar = new Map<string, string>();

async function call(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set("cookie", [...jar].map(([k, v]) => `${k}=${v}`).join("; "));
  const res = await fetch(new URL(path, base), {
    ...init,
    headers,
    redirect: "manual",
    signal: AbortSignal.timeout(10_000),
  });
  for (const c of res.headers.getSetCookie()) {
    const [pair = ""] = c.split(";");
    const eq = pair.indexOf("=");
    jar.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return res;
}

const page = await (await call("/setup")).text();
const csrf = /name="csrf" value="([^"]+)"/.exec(page)?.[1] ?? "";
const password = "integration test password";
const form = new URLSearchParams({ csrf, code, password, confirm: password });
const setup = await call("/setup", {
  method: "POST",
  body: form,
  headers: { "content-type": "application/x-www-form-urlencoded" },
});
const status = (await (await call("/api/v1/status")).json()) as { csrfToken?: string };
const sent = await call("/api/v1/mesh/messages", {
  method: "POST",
  body: JSON.stringify({ to, text }),
  headers: { "content-type": "application/json", "x-csrf-token": status.csrfToken ?? "" },
});
console.log(JSON.stringify({ setup: setup.status, status: sent.status, body: await sent.json() }));

export {};
