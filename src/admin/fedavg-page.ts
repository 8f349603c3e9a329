// The FedAvg page: this device's model and examples, the hub's rounds with their accuracy, and the
// releases recorded on the chain. Server-rendered; while a round runs the page refreshes itself.
import type { FedavgView, ReleaseRow, RoundRow } from "../fedavg/view.ts";
import { html, type Raw } from "./html.ts";
import { layout, pageHeader } from "./pages.ts";

export interface FedavgPageModel {
  nodeName: string;
  role: string;
  csrfToken: string;
  /** Absent when FedAvg is off on this device. */
  fedavg?: FedavgView;
  canStart: boolean;
  notice?: string;
  error?: string;
}

const when = (ts: number) => `${new Date(ts).toISOString().slice(0, 19).replace("T", " ")} UTC`;
const short = (hex: string) => html`<code title="${hex}">${hex.slice(0, 8)}</code>`;
const percent = (x: number | null) => (x === null ? "–" : `${(x * 100).toFixed(1)} %`);

/** A bar as wide as the accuracy, so the trend over rounds is visible without a chart library. */
function accuracyCell(x: number | null): Raw {
  if (x === null) return html`<td class="muted">–</td>`;
  const w = Math.round(x * 100);
  return html`<td data-accuracy="${x.toFixed(4)}"><span style="display:inline-block;width:${w * 0.6}px;height:.6rem;background:#2458d6;margin-right:.4rem"></span>${percent(x)}</td>`;
}

function roundsTable(rounds: RoundRow[]): Raw {
  if (rounds.length === 0) return html`<p id="rounds-none">No rounds yet.</p>`;
  const phase = (p: string) => (p === "failed" ? "sev-error" : p === "released" ? "ok" : "warning");
  return html`<table id="rounds" class="grid"><tr><th>Round</th><th>Phase</th><th>Started</th><th>Participants</th><th>Examples</th><th>Accuracy before</th><th>Released</th><th>Notes</th></tr>${[
    ...rounds,
  ]
    .reverse()
    .map(
      (r) =>
        html`<tr data-round="${r.round}"><td>${r.round}</td><td class="${phase(r.phase)}">${r.phase}</td><td>${when(r.startedAt)}</td><td>${r.participants.length}/${r.invited} ${r.participants.map((p) => html` ${short(p)}`)}</td><td>${r.examples ?? "–"}</td>${accuracyCell(r.accuracyBefore)}<td>${r.version === null ? "–" : html`v${r.version} ${short(r.hash ?? "")}`}</td><td>${r.failure ?? ""}${r.dropped ? ` ${r.dropped} dropped` : ""}${r.refusals.length ? ` ${r.refusals.length} refused` : ""}</td></tr>`,
    )}</table>`;
}

function releasesTable(releases: ReleaseRow[]): Raw {
  if (releases.length === 0) return html`<p id="releases-none">No model-release blocks on the chain yet.</p>`;
  return html`<table id="releases" class="grid"><tr><th>Time</th><th>Round</th><th>Version</th><th>Model hash</th><th>Participants</th><th>Examples</th><th>Accuracy before</th><th>Recorded by</th></tr>${releases.map(
    (r) =>
      html`<tr data-round="${r.round}"><td>${when(r.ts)}</td><td>${r.round}</td><td>v${r.version}</td><td>${short(r.hash)}</td><td>${r.participants.length}</td><td>${r.metrics.examples}</td>${accuracyCell(r.metrics.accuracyBefore)}<td>${short(r.author)} #${r.seq}</td></tr>`,
  )}</table>`;
}

export function fedavgPage(m: FedavgPageModel): string {
  const header = pageHeader(m.nodeName, m.role, m.csrfToken);
  const f = m.fedavg;
  if (!f) {
    return layout(
      "FedAvg",
      html`<section><h2>Federated training</h2><p id="fedavg-off">FedAvg is off on this device (set <code>fedavg.enabled = true</code>).</p></section>`,
      header,
    );
  }
  const running = f.rounds.some((r) => r.endedAt === null);
  const spec = f.spec.kind === "mlp" ? `mlp, ${f.spec.hidden} hidden` : "logistic";
  const start = m.canStart
    ? html`<form method="post" action="/fedavg/rounds"><input type="hidden" name="csrf" value="${m.csrfToken}"><button id="start-round" type="submit"${running || !f.ready ? " disabled" : ""}>Start a round</button></form>`
    : "";
  const body = html`${running ? html`<script>setTimeout(() => location.reload(), 3000)</script>` : ""}<section><h2>Federated training</h2>
${m.notice ? html`<p class="ok" role="status">${m.notice}</p>` : ""}${m.error ? html`<p class="error" role="alert">${m.error}</p>` : ""}
<table id="fedavg-status"><tr><th>Role</th><td>${f.role}${f.ready ? "" : html` <span class="warning">(waiting for the mesh)</span>`}</td></tr>
<tr><th>Task</th><td>${f.task} verifier (${spec}, ${f.spec.inputs} inputs)</td></tr>
<tr><th>Model</th><td id="fedavg-model">${f.model ? html`v${f.model.version} ${short(f.model.hash)}` : "none yet"}</td></tr>
<tr><th>Examples here</th><td>${f.examples.positive} wake word, ${f.examples.negative} other (never sent: only updates leave this device)</td></tr>
${f.coordinator ? html`<tr><th>Coordinator</th><td>${short(f.coordinator)}</td></tr>` : ""}</table>${start}</section>
${f.role === "coordinator" ? html`<section><h2>Rounds</h2><p class="muted">Accuracy before: the incoming model on the participants' own examples, measured by each device before it trains.</p>${roundsTable(f.rounds)}</section>` : ""}
<section><h2>Released models (chain)</h2>${releasesTable(f.releases)}</section>`;
  return layout("FedAvg", body, header);
}
