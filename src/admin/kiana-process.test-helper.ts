// Starts a real `kiana run` process for integration tests and reads its admin URL and setup code
// from stdout. Bounded waits everywhere; kill() in teardown.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export interface KianaProcess {
  url: string;
  setupCode: string | null;
  dataDir: string;
  output(): string;
  kill(): Promise<void>;
}

const MAIN = resolve(import.meta.dir, "../main.ts");

export async function startKiana(
  opts: { command?: string[]; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<KianaProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), "kiana-proc-"));
  const cmd = opts.command ?? [process.execPath, MAIN];
  const proc = Bun.spawn([...cmd, "run", "--port", "0"], {
    env: {
      ...process.env,
      KIANA_DATA: dataDir,
      KIANA_LOG_FORMAT: "json", // mDNS would multicast on the host's real network: mesh tests run in namespaces.
      KIANA_MESH_ENABLED: "false",
      ...opts.env,
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  let out = "";
  const decoder = new TextDecoder();
  const reader = proc.stdout.getReader();
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  let url: string | null = null;
  while (Date.now() < deadline) {
    const chunk = await Promise.race([reader.read(), Bun.sleep(deadline - Date.now()).then(() => null)]);
    if (!chunk || chunk.done) break;
    out += decoder.decode(chunk.value);
    url = /kiana admin page: (\S+)/.exec(out)?.[1] ?? null;
    if (url && (/setup code: \S+/.test(out) || /admin page: \S+\n\n/.test(out))) break;
  }
  if (!url) {
    proc.kill("SIGKILL");
    throw new Error(
      `kiana did not print its URL in time; output:\n${out}\n${await new Response(proc.stderr).text()}`,
    );
  }
  // Keep draining stdout so the child never blocks on a full pipe.
  void (async () => {
    for (;;) {
      const chunk = await reader.read().catch(() => ({ done: true, value: undefined }));
      if (chunk.done) return;
      out += decoder.decode(chunk.value);
    }
  })();
  return {
    url,
    setupCode: /setup code: (\S+)/.exec(out)?.[1] ?? null,
    dataDir,
    output: () => out,
    async kill() {
      proc.kill("SIGTERM");
      const exited = await Promise.race([proc.exited.then(() => true), Bun.sleep(5000).then(() => false)]);
      if (!exited) proc.kill("SIGKILL");
    },
  };
}
