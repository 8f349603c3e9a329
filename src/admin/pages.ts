// The admin pages, rendered on the server. One small stylesheet and one small script, no build step.
import { html, type Raw, raw } from "./html.ts";

export interface OverviewModel {
  nodeName: string;
  role: string;
  version: string;
  fingerprint: string;
  uptimeSeconds: number;
  profileRows: [string, string][];
  health: { code: string; severity: string; message: string; hint?: string }[];
  engines: { name: string; state: string; reason: string | null }[];
  stats: {
    cpuLoadPercent: number | null;
    memoryUsedBytes: number;
    memoryTotalBytes: number;
    temperatureCelsius: number | null;
  };
  peers: { name: string; role: string; fingerprint: string; state: string; addresses: string[] }[];
  csrfToken: string;
}

const STYLE = `
*{box-sizing:border-box}body{font:15px/1.45 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2430}
header{background:#1d2430;color:#fff;padding:.7rem 1.2rem;display:flex;gap:1rem;align-items:center}
header h1{font-size:1.1rem;margin:0}header nav{flex:1}header a{color:#cfe0ff}header form{margin:0}main{max-width:60rem;margin:1.2rem auto;padding:0 1rem}
section{background:#fff;border-radius:8px;padding:1rem 1.2rem;margin-bottom:1rem;box-shadow:0 1px 2px #0002}
h2{font-size:1rem;margin:0 0 .6rem}table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #eee;vertical-align:top}
th{width:12rem;color:#555;font-weight:500}label{display:block;margin:.7rem 0 .2rem}input{font:inherit;padding:.45rem;width:100%;max-width:22rem;border:1px solid #bbb;border-radius:5px}
button{font:inherit;padding:.45rem 1rem;border:0;border-radius:5px;background:#2458d6;color:#fff;cursor:pointer;margin-top:1rem}
header button{margin:0;background:#445}.error{background:#fde8e8;color:#8a1c1c;padding:.6rem .8rem;border-radius:5px}
.ok{color:#17713a}.warning{color:#8a5a00}.sev-error{color:#8a1c1c}.narrow{max-width:28rem}code{background:#eef;padding:0 .3rem;border-radius:3px}
.grid th{width:auto}.filters{display:flex;flex-wrap:wrap;gap:0 1rem;align-items:flex-end}.filters input,.filters select{width:12rem}
select{font:inherit;padding:.45rem;border:1px solid #bbb;border-radius:5px;background:#fff}.muted{color:#666}
`;

export function layout(title: string, body: Raw, header: Raw = html``): string {
  return html`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title} · kiana</title><style>${raw(STYLE)}</style></head>
<body><header><h1>kiana</h1>${header}</header><main>${body}</main></body></html>`.value;
}

const errorBox = (error?: string) => (error ? html`<p class="error" role="alert">${error}</p>` : "");

export function setupPage(opts: { csrf: string; error?: string }): string {
  return layout(
    "First-time setup",
    html`<section class="narrow"><h2>First-time setup</h2>
<p>Enter the setup code that <code>kiana</code> printed when it started (also shown by <code>kiana status</code>), and choose the admin password.</p>
${errorBox(opts.error)}
<form method="post" action="/setup">
<input type="hidden" name="csrf" value="${opts.csrf}">
<label for="code">Setup code</label><input id="code" name="code" autocomplete="one-time-code" required>
<label for="password">New admin password (at least 10 characters)</label><input id="password" name="password" type="password" autocomplete="new-password" required minlength="10">
<label for="confirm">Repeat the password</label><input id="confirm" name="confirm" type="password" autocomplete="new-password" required>
<button type="submit">Set password</button></form></section>`,
  );
}

export function loginPage(opts: { csrf: string; error?: string; notice?: string }): string {
  return layout(
    "Log in",
    html`<section class="narrow"><h2>Log in</h2>${errorBox(opts.error)}${opts.notice ? html`<p class="ok">${opts.notice}</p>` : ""}
<form method="post" action="/login">
<input type="hidden" name="csrf" value="${opts.csrf}">
<label for="password">Admin password</label><input id="password" name="password" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Log in</button></form></section>`,
  );
}

function formatUptime(s: number): string {
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return d > 0 ? `${d} d ${h} h` : h > 0 ? `${h} h ${m} min` : `${m} min ${Math.floor(s % 60)} s`;
}

const GiB = 1024 ** 3;

export function statsCells(s: OverviewModel["stats"]): [string, string][] {
  return [
    ["CPU load", s.cpuLoadPercent === null ? "unknown" : `${s.cpuLoadPercent.toFixed(0)} %`],
    [
      "Memory used",
      `${(s.memoryUsedBytes / GiB).toFixed(1)} of ${(s.memoryTotalBytes / GiB).toFixed(1)} GiB`,
    ],
    ["Temperature", s.temperatureCelsius === null ? "not readable" : `${s.temperatureCelsius.toFixed(1)} °C`],
  ];
}

const rows = (pairs: [string, string][], idPrefix = "") =>
  pairs.map(
    ([k, v]) =>
      html`<tr><th>${k}</th><td${idPrefix ? raw(` id="${idPrefix}${k.toLowerCase().replace(/\W+/g, "-")}"`) : ""}>${v}</td></tr>`,
  );

function peersTable(peers: OverviewModel["peers"], detailed: boolean): Raw {
  if (peers.length === 0) return html`<p id="peers-none">No other devices seen yet.</p>`;
  const state = (s: string) => (s === "failed" ? "sev-error" : s === "degraded" ? "warning" : "ok");
  return html`<table id="peers"><tr><th>Name</th><th>Role</th><th>State</th><th>Address</th>${detailed ? html`<th>Fingerprint</th>` : ""}</tr>${peers.map(
    (p) =>
      html`<tr><td>${p.name}</td><td>${p.role}</td><td class="${state(p.state)}">${p.state}</td><td>${p.addresses.join(", ")}</td>${detailed ? html`<td><code>${p.fingerprint}</code></td>` : ""}</tr>`,
  )}</table>`;
}

export function pageHeader(nodeName: string, role: string, csrfToken: string): Raw {
  return html`<nav><a href="/">Overview</a> · <a href="/peers">Peers</a> · <a href="/chain">Chain</a> · <a href="/fedavg">FedAvg</a></nav><span>${nodeName} · ${role}</span><form method="post" action="/logout"><input type="hidden" name="csrf" value="${csrfToken}"><button type="submit">Log out</button></form>`;
}

/** The peer table: enrolled devices with their heartbeat health, and devices only seen over mDNS. */
export function peersPage(m: Pick<OverviewModel, "nodeName" | "role" | "peers" | "csrfToken">): string {
  const body = html`<section><h2>Peers</h2>
<p>healthy: heartbeats arrive · degraded: 2 missed · failed: 5 missed · online/offline: the broker's presence · discovered: seen on the LAN, not enrolled in this fleet.</p>
${peersTable(m.peers, true)}</section>`;
  return layout("Peers", body, pageHeader(m.nodeName, m.role, m.csrfToken));
}

export function overviewPage(m: OverviewModel): string {
  const header = pageHeader(m.nodeName, m.role, m.csrfToken);
  const health =
    m.health.length === 0
      ? html`<p class="ok" id="health-ok">No problems.</p>`
      : html`<table>${m.health.map(
          (h) =>
            html`<tr><th class="${h.severity === "error" ? "sev-error" : "warning"}">${h.code}</th><td>${h.message}${h.hint ? html`<br><small>${h.hint}</small>` : ""}</td></tr>`,
        )}</table>`;
  const body = html`
<section><h2>This device</h2><table>${rows([
    ["Name", m.nodeName],
    ["Role", m.role],
    ["Version", m.version],
    ["Uptime", formatUptime(m.uptimeSeconds)],
    ["Fingerprint", m.fingerprint],
  ])}</table></section>
<section><h2>Now</h2><table id="stats">${rows(statsCells(m.stats), "stat-")}</table></section>
<section><h2>Health</h2>${health}</section>
<section><h2><a href="/peers">Peers</a></h2>${peersTable(m.peers, false)}</section>
<section><h2>Hardware</h2><table id="hardware">${rows(m.profileRows)}</table></section>
<section><h2>Engines</h2><table>${m.engines.map(
    (e) =>
      html`<tr><th>${e.name}</th><td class="${e.state === "failed" ? "sev-error" : e.state === "missing" ? "warning" : "ok"}">${e.state}${e.reason ? html` — ${e.reason}` : ""}</td></tr>`,
  )}</table></section>
<script>${raw(REFRESH_SCRIPT)}</script>`;
  return layout("Overview", body, header);
}

// Refreshes the "Now" table every 5 s from the JSON API; the page works without it.
const REFRESH_SCRIPT = `
setInterval(async()=>{try{const r=await fetch('/api/v1/status',{credentials:'same-origin'});if(!r.ok)return;
const s=(await r.json()).statsCells;for(const[k,v]of s){const el=document.getElementById('stat-'+k.toLowerCase().replace(/\\W+/g,'-'));if(el)el.textContent=v;}}catch{}},5000);`;
