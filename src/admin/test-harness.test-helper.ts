// Builds an admin app over a real SQLite store in a temp dir, with a hand-moved clock, and a
// cookie jar so tests read like a browser session.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHealthRegistry } from "../platform/health.ts";
import { createLogger } from "../platform/log.ts";
import { createAuditLog, createLoginLimiter } from "../security/index.ts";
import { openStore } from "../store/index.ts";
import type { AdminAppDeps } from "./app.ts";
import { createAccounts, createAdminApp, createSetupCodeKeeper } from "./index.ts";

export function createHarness(
  opts: {
    metricsToken?: string;
    sendDirect?: (to: string, type: string, payload: Uint8Array) => Promise<{ id: string }>;
    sendFile?: AdminAppDeps["sendFile"];
    chain?: AdminAppDeps["chain"];
    fedavg?: AdminAppDeps["fedavg"];
    /** Built over the harness's data dir, as the composition root builds it over the real one. */
    fleet?: (dataDir: string) => AdminAppDeps["fleet"];
  } = {},
) {
  const dataDir = mkdtempSync(join(tmpdir(), "kiana-admin-"));
  let now = 1_800_000_000_000;
  const clock = () => now;
  const store = openStore({ path: join(dataDir, "kiana.db"), now: clock });
  const health = createHealthRegistry({ now: clock });
  const setupCode = createSetupCodeKeeper({ dataDir, generate: () => "ABCD-EFGH" });
  const accounts = createAccounts({ store, sessionMs: 3_600_000, now: clock });
  const audit = createAuditLog({ store, now: clock });
  const limiter = createLoginLimiter({ now: clock, freeAttempts: 3, baseDelayMs: 1000 });
  const peers = () => [
    { name: "kitchen", role: "satellite", fingerprint: "ab", state: "healthy", addresses: ["10.0.0.7"] },
  ];
  const app = createAdminApp({
    accounts,
    setupCode,
    limiter,
    audit,
    health,
    log: createLogger({ write: () => {} }),
    metricsToken: opts.metricsToken ?? "",
    sessionMs: 3_600_000,
    sendDirect: opts.sendDirect,
    sendFile: opts.sendFile,
    chain: opts.chain,
    fedavg: opts.fedavg,
    fleet: opts.fleet?.(dataDir),
    node: { name: "test-node", role: "hub" },
    peers,
    status: async () => ({
      node: { name: "test-node", role: "hub", fleet: "dev", fingerprint: "00ff" },
      version: "0.0.0-test",
      uptimeSeconds: 42,
      profileRows: [["Board", "Raspberry Pi 5 Model B Rev 1.0"]],
      engines: [{ name: "onnxruntime", state: "available", reason: null }],
      stats: {
        cpuLoadPercent: 12,
        memoryUsedBytes: 2 ** 30,
        memoryTotalBytes: 8 * 2 ** 30,
        temperatureCelsius: 51.5,
      },
      peers: peers(),
      refusals: [{ reason: "replay", count: 3 }],
      messages: { sent: 4, delivered: 2 },
      transfers: { received: 1, receivedBytes: 52428800 },
    }),
  });

  const jar = new Map<string, string>();
  async function request(
    method: string,
    path: string,
    form?: Record<string, string>,
    headers: Record<string, string> = {},
  ) {
    const h = new Headers(headers);
    if (jar.size > 0 && !h.has("cookie")) h.set("cookie", [...jar].map(([k, v]) => `${k}=${v}`).join("; "));
    let body: string | undefined;
    if (form) {
      h.set("content-type", "application/x-www-form-urlencoded");
      body = new URLSearchParams(form).toString();
    }
    const res = await app.handle(new Request(`http://localhost${path}`, { method, headers: h, body }));
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const eq = (pair ?? "").indexOf("=");
      const name = (pair ?? "").slice(0, eq);
      const value = (pair ?? "").slice(eq + 1);
      if (/Max-Age=0/.test(c) || value === "") jar.delete(name);
      else jar.set(name, value);
    }
    return res;
  }
  const csrfFrom = (page: string) => /name="csrf" value="([^"]+)"/.exec(page)?.[1] ?? "";

  return {
    app,
    dataDir,
    health,
    audit,
    setupCode,
    jar,
    request,
    csrfFrom,
    advance: (ms: number) => {
      now += ms;
    },
    close: () => store.close(),
  };
}
