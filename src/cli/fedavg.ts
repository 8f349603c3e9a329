// `kiana fedavg status|start-round`: asks the running node on this device over its admin API
// (/api/v1/fedavg/*, authorised by the device's API token, which only root and kiana can read).
import type { KianaConfig } from "../config/index.ts";
import { describeError, kianaError } from "../errors.ts";
import type { FedavgView, RoundRow } from "../fedavg/view.ts";
import { apiToken } from "./model-service.ts";

export const FEDAVG_USAGE = `kiana fedavg status [--json]                     the running node's model, examples, rounds and releases
kiana fedavg start-round [--timeout S] [--json]  start a round on the hub and wait for it to end`;

export interface FedavgCliIo {
  out?(text: string): void;
  fetch?(url: string, init: RequestInit): Promise<Response>;
  sleep?(ms: number): Promise<void>;
}

/** The admin listener as seen from this device: a wildcard address is reached on loopback. */
export function localAdminUrl(config: Readonly<KianaConfig>): string {
  const { host, port } = config.admin;
  const h = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host;
  return `http://${h.includes(":") ? `[${h}]` : h}:${port}`;
}

const pct = (x: number | null) => (x === null ? "-" : `${(x * 100).toFixed(1)}%`);

export function formatRounds(rounds: readonly RoundRow[]): string {
  if (rounds.length === 0) return "no rounds yet\n";
  const rows = [["round", "phase", "participants", "examples", "accuracy-before", "model", "note"]];
  for (const r of rounds)
    rows.push([
      String(r.round),
      r.phase,
      `${r.participants.length}/${r.invited}`,
      String(r.examples ?? "-"),
      pct(r.accuracyBefore),
      r.version === null ? "-" : `v${r.version} ${(r.hash ?? "").slice(0, 12)}`,
      r.failure ?? "",
    ]);
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length))) ?? [];
  return `${rows
    .map((r) =>
      r
        .map((cell, c) => cell.padEnd(widths[c] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n")}\n`;
}

function formatView(v: FedavgView): string {
  const model = v.model ? `v${v.model.version} ${v.model.hash}` : "none yet";
  const lines = [
    `role:      ${v.role}${v.ready ? "" : " (waiting for the mesh)"}`,
    `task:      ${v.task} (${v.spec.kind}, ${v.spec.inputs} inputs)`,
    `model:     ${model}`,
    `examples:  ${v.examples.positive} wake word, ${v.examples.negative} other`,
    `releases:  ${v.releases.length} on the chain${v.releases[0] ? `, newest round ${v.releases[0].round} v${v.releases[0].version}` : ""}`,
  ];
  return `${lines.join("\n")}\n${v.role === "coordinator" ? formatRounds(v.rounds) : ""}`;
}

export async function runFedavgCommand(
  sub: string | undefined,
  flags: Record<string, string>,
  json: boolean,
  config: Readonly<KianaConfig>,
  io: FedavgCliIo = {},
): Promise<number> {
  const out = io.out ?? ((t: string) => process.stdout.write(t));
  const doFetch = io.fetch ?? ((url: string, init: RequestInit) => fetch(url, init));
  const sleep = io.sleep ?? ((ms: number) => Bun.sleep(ms));
  if (sub !== "status" && sub !== "start-round")
    throw kianaError(
      "CLI_USAGE",
      `${sub ? `unknown fedavg command ${sub}` : "fedavg needs a command"}\n\n${FEDAVG_USAGE}`,
    );
  const base = localAdminUrl(config);
  const headers = { authorization: `Bearer ${apiToken(config)}` };
  const call = async (
    method: string,
    path: string,
  ): Promise<{ status: number; body: Record<string, unknown> }> => {
    let res: Response;
    try {
      res = await doFetch(`${base}${path}`, { method, headers, signal: AbortSignal.timeout(10_000) });
    } catch (err) {
      throw kianaError(
        "FEDAVG_NOT_READY",
        `cannot reach the running node at ${base} (is \`kiana run\` running?): ${describeError(err)}`,
      );
    }
    const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    const error = body.error as { code?: string; message?: string } | undefined;
    if (res.status >= 400)
      throw kianaError(
        "FEDAVG_NOT_READY",
        `${error?.message ?? `HTTP ${res.status}`} (${error?.code ?? res.status})`,
      );
    return { status: res.status, body };
  };

  if (sub === "status") {
    const { body } = await call("GET", "/api/v1/fedavg/status");
    out(json ? `${JSON.stringify(body)}\n` : formatView(body as unknown as FedavgView));
    return 0;
  }
  const { body } = await call("POST", "/api/v1/fedavg/rounds");
  const round = body.round as number;
  if (!json) out(`round ${round} started\n`);
  const f = config.fedavg;
  const timeoutS = Number(flags.timeout ?? f.deadlineSeconds + f.revealSeconds + 30);
  if (!(timeoutS > 0)) throw kianaError("CLI_USAGE", "--timeout must be a number of seconds");
  const until = Date.now() + timeoutS * 1000;
  while (Date.now() < until) {
    await sleep(500);
    const view = (await call("GET", "/api/v1/fedavg/status")).body as unknown as FedavgView;
    const row = view.rounds.find((r) => r.round === round && r.endedAt !== null);
    if (!row) continue;
    out(json ? `${JSON.stringify(row)}\n` : formatRounds([row]));
    return row.phase === "released" ? 0 : 1;
  }
  out(`round ${round} has not ended after ${timeoutS} s; \`kiana fedavg status\` shows it\n`);
  return 1;
}
