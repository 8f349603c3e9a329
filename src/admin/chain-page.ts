// The Chain page: a filterable, pageable block list, the checkpoint and validator state, and the
// authors' logs. Server-rendered; the filter form uses GET so any view is a link that can be shared.
import type { ChainStats } from "../chain/queries.ts";
import type { BlockRowView, ChainAuthorityStatus, ChainAuthorView, CheckpointView } from "../chain/view.ts";
import { html, type Raw } from "./html.ts";
import { layout, pageHeader } from "./pages.ts";

export interface ChainPageModel {
  nodeName: string;
  role: string;
  csrfToken: string;
  /** The filter as typed, so the form shows what was asked even when it was refused. */
  form: { author: string; type: string; since: string; q: string; limit: string };
  error?: string;
  /** Absent when this device runs without a chain. */
  chain?: {
    blocks: BlockRowView[];
    /** Link to the next page; absent on the last one. */
    nextHref?: string;
    authors: ChainAuthorView[];
    stats: ChainStats;
    authority?: ChainAuthorityStatus;
  };
}

/** Block types offered in the type box; any other well-formed type can still be typed in. */
const TYPE_HINTS = ["knowledge", "vote", "checkpoint", "config", "model-release", "audit-anchor"];
/** Long bodies are cut in the table; the JSON API has them whole. */
const SHOWN_CHARS = 280;

const short = (fingerprint: string) => html`<code title="${fingerprint}">${fingerprint.slice(0, 8)}</code>`;
const when = (ts: number) => `${new Date(ts).toISOString().slice(0, 19).replace("T", " ")} UTC`;

function content(b: BlockRowView): Raw {
  if (b.text === undefined) return html`<span class="muted">${b.bytes} bytes, not text</span>`;
  return html`${b.text.length > SHOWN_CHARS ? `${b.text.slice(0, SHOWN_CHARS)}…` : b.text}`;
}

function filterForm(m: ChainPageModel, authors: ChainAuthorView[]): Raw {
  const f = m.form;
  const known = authors.some((a) => a.author === f.author);
  return html`<form id="chain-filter" class="filters" method="get" action="/chain">
<div><label for="f-author">Author</label><select id="f-author" name="author"><option value="">all authors</option>${authors.map(
    (a) =>
      html`<option value="${a.author}"${a.author === f.author ? " selected" : ""}>${a.author.slice(0, 8)} (${a.length})</option>`,
  )}${f.author && !known ? html`<option value="${f.author}" selected>${f.author}</option>` : ""}</select></div>
<div><label for="f-type">Type</label><input id="f-type" name="type" list="block-types" value="${f.type}" placeholder="any type"><datalist id="block-types">${TYPE_HINTS.map(
    (t) => html`<option value="${t}">`,
  )}</datalist></div>
<div><label for="f-since">Since</label><input id="f-since" name="since" type="date" value="${f.since}"></div>
<div><label for="f-q">Search knowledge</label><input id="f-q" name="q" type="search" value="${f.q}" placeholder="words, all must match"></div>
${f.limit ? html`<input type="hidden" name="limit" value="${f.limit}">` : ""}<div><button type="submit">Show</button> <a href="/chain">clear</a></div>
</form>`;
}

function blocksTable(blocks: BlockRowView[], nextHref: string | undefined): Raw {
  if (blocks.length === 0) return html`<p id="blocks-none">No blocks match.</p>`;
  return html`<table id="blocks" class="grid"><tr><th>Time</th><th>Author</th><th>#</th><th>Type</th><th>Content</th></tr>${blocks.map(
    (b) =>
      html`<tr data-author="${b.author}" data-seq="${b.seq}"><td>${when(b.ts)}</td><td>${short(b.author)}</td><td>${b.seq}</td><td>${b.type}</td><td>${content(b)}</td></tr>`,
  )}</table>${nextHref ? html`<p><a id="next-page" href="${nextHref}">Next page →</a></p>` : html`<p class="muted">End of the list.</p>`}`;
}

function checkpointRow(label: string, c: CheckpointView | undefined, majority: number): Raw {
  if (!c) return html`<tr><th>${label}</th><td>none yet</td></tr>`;
  return html`<tr><th>${label}</th><td>height ${c.height} · ${c.signers}/${majority} signatures · ${c.final ? "final" : "not final"} · ${c.heads} logs · proposed by ${short(c.proposer)} at ${when(c.ts)}</td></tr>`;
}

function authorityBox(a: ChainAuthorityStatus | undefined): Raw {
  if (!a) return html`<p id="checkpoints-none">This device does not track checkpoints.</p>`;
  const state = a.latest
    ? html`<table id="checkpoints">${checkpointRow("Latest", a.latest, a.majority)}${checkpointRow("Last final", a.lastFinal, a.majority)}<tr><th>Pending</th><td>${a.pending}</td></tr></table>`
    : html`<p id="checkpoints-none">No checkpoints yet.</p>`;
  const validators =
    a.validators.length === 0
      ? html`<p>No validators.</p>`
      : html`<table id="validators" class="grid"><tr><th>Validator</th><th>Since height</th></tr>${a.validators.map(
          (v) =>
            html`<tr><td><code>${v.fingerprint}</code>${v.self ? html` <strong class="ok">this device</strong>` : ""}</td><td>${v.sinceHeight}</td></tr>`,
        )}</table>`;
  return html`${state}<h2>Validators</h2><p>${a.validators.length} validators; a checkpoint is final with ${a.majority} signatures.</p>${validators}`;
}

function authorsTable(authors: ChainAuthorView[]): Raw {
  if (authors.length === 0) return html`<p>No logs yet.</p>`;
  return html`<table id="chain-authors" class="grid"><tr><th>Author</th><th>Length</th><th>Signed length</th><th>Trust</th></tr>${authors.map(
    (a) =>
      html`<tr><td><a href="/chain?author=${a.author}"><code>${a.author}</code></a></td><td>${a.length}</td><td>${a.signedLength}</td><td>${a.trust.toFixed(2)}</td></tr>`,
  )}</table>`;
}

export function chainPage(m: ChainPageModel): string {
  const header = pageHeader(m.nodeName, m.role, m.csrfToken);
  const error = m.error ? html`<p class="error" role="alert">${m.error}</p>` : "";
  const c = m.chain;
  if (!c) {
    return layout(
      "Chain",
      html`<section><h2>Chain</h2><p id="chain-unavailable">The chain is not available on this device.</p></section>`,
      header,
    );
  }
  const body = html`<section><h2>Chain</h2><p id="chain-stats">${c.stats.blocks} blocks in ${c.stats.authors} logs, ${c.stats.knowledge} of them knowledge.</p></section>
<section><h2>Checkpoints</h2>${authorityBox(c.authority)}</section>
<section><h2>Blocks</h2>${filterForm(m, c.authors)}${error}${blocksTable(c.blocks, c.nextHref)}</section>
<section><h2>Authors</h2>${authorsTable(c.authors)}</section>`;
  return layout("Chain", body, header);
}
