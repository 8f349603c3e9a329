// A cookie-keeping HTTP client for one device's admin page, used as a person's browser would: the
// session cookie is kept between calls and redirects are read, not followed. The operator's adopt
// command and the integration tests drive the admin page through it.

export type AdminCall = (path: string, init?: RequestInit) => Promise<Response>;

export function createCookieClient(base: string, timeoutMs: number): AdminCall {
  const jar = new Map<string, string>();
  return async (path, init = {}) => {
    const headers = new Headers(init.headers);
    headers.set("cookie", [...jar].map(([k, v]) => `${k}=${v}`).join("; "));
    const res = await fetch(new URL(path, base), {
      ...init,
      headers,
      redirect: "manual",
      signal: AbortSignal.timeout(timeoutMs),
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair = ""] = c.split(";");
      const eq = pair.indexOf("=");
      jar.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    return res;
  };
}
