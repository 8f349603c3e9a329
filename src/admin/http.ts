// Small HTTP helpers for the admin app: cookies, form bodies, and responses built explicitly
// so that several Set-Cookie headers and exact status codes are under our control.
import type { ErrorCode } from "../errors.ts";

export function parseCookies(header: string | null): Record<string, string> {
  const out: Record<string, string> = {};
  if (!header) return out;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    try {
      out[name] = decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      // A malformed cookie value is ignored, as if absent.
    }
  }
  return out;
}

export function cookie(name: string, value: string, maxAgeSeconds: number): string {
  return `${name}=${encodeURIComponent(value)}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}`;
}

export async function readForm(request: Request): Promise<Record<string, string> | null> {
  const type = request.headers.get("content-type") ?? "";
  try {
    if (type.startsWith("application/x-www-form-urlencoded")) {
      const text = await request.text();
      if (text.length > 16_384) return null;
      return Object.fromEntries(new URLSearchParams(text));
    }
    if (type.startsWith("multipart/form-data")) {
      const fd = await request.formData();
      const out: Record<string, string> = {};
      fd.forEach((v, k) => {
        if (typeof v === "string") out[k] = v;
      });
      return out;
    }
  } catch {
    return null;
  }
  return null;
}

const SECURITY_HEADERS = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "same-origin",
  "content-security-policy":
    "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline' 'self'; form-action 'self'; frame-ancestors 'none'",
};

export function htmlResponse(body: string, status = 200, cookies: string[] = []): Response {
  const headers = new Headers({
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    ...SECURITY_HEADERS,
  });
  for (const c of cookies) headers.append("set-cookie", c);
  return new Response(body, { status, headers });
}

export function redirect(location: string, cookies: string[] = []): Response {
  const headers = new Headers({ location, "cache-control": "no-store" });
  for (const c of cookies) headers.append("set-cookie", c);
  return new Response(null, { status: 303, headers });
}

export function jsonResponse(body: unknown, status = 200, extra: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store", ...extra },
  });
}

/** The JSON error shape of the API: a stable code and a sentence. */
export function jsonError(
  status: number,
  code: ErrorCode,
  message: string,
  extra: Record<string, string> = {},
): Response {
  return jsonResponse({ error: { code, message } }, status, extra);
}
