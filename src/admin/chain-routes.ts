// The chain's part of the admin app: the /chain page and /api/v1/chain/*, over the plain values the
// composition root passes as `chain`. Every query parameter is checked here before it reaches SQL.
import type { ChainStats } from "../chain/queries.ts";
import type { BlockFilter, BlockRowView, ChainAuthorityStatus, ChainAuthorView } from "../chain/view.ts";
import { type ChainPageModel, chainPage } from "./chain-page.ts";
import { htmlResponse, jsonError, jsonResponse, redirect } from "./http.ts";

/** What the admin app reads about the chain; authority and counters come from other parts. */
export interface AdminChain {
  list(filter: BlockFilter): BlockRowView[];
  authors(): ChainAuthorView[];
  stats(): ChainStats;
  authority?(): ChainAuthorityStatus;
  counters?(): Record<string, number>;
}

export type ChainQuery = { ok: true; filter: BlockFilter } | { ok: false; param: string; message: string };

const AUTHOR = /^[0-9a-f]{32}$/;
const TYPE = /^[a-z][a-z0-9-]{0,31}$/;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})?)?$/;
const CURSOR = /^(\d{1,16})\.([0-9a-f]{32})\.(\d{1,16})$/;
const MAX_QUERY_CHARS = 200;
const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 500;

/** The `before` of the page after the one ending with `b`. */
export const cursorOf = (b: BlockRowView) => `${b.ts}.${b.author}.${b.seq}`;

/**
 * Reads author, type, since, q, limit and before; empty values count as absent, as a form sends them.
 * A refusal names the parameter first, so the JSON error says which one to fix.
 */
export function parseChainQuery(params: URLSearchParams): ChainQuery {
  const get = (name: string) => params.get(name)?.trim() || undefined;
  const bad = (param: string, message: string): ChainQuery => ({ ok: false, param, message });
  const filter: BlockFilter = { limit: DEFAULT_LIMIT };
  const author = get("author")?.toLowerCase();
  if (author !== undefined) {
    if (!AUTHOR.test(author)) return bad("author", "author must be a 32-hex-digit fingerprint");
    filter.author = author;
  }
  const type = get("type");
  if (type !== undefined) {
    if (!TYPE.test(type)) return bad("type", "type must be a short lowercase name such as knowledge");
    filter.type = type;
  }
  const since = get("since");
  if (since !== undefined) {
    const ms = /^\d{1,16}$/.test(since)
      ? Number(since)
      : ISO_DATE.test(since)
        ? Date.parse(since)
        : Number.NaN;
    if (!Number.isSafeInteger(ms) || ms < 0)
      return bad("since", "since must be a date such as 2026-11-01 or milliseconds since the epoch");
    filter.since = ms;
  }
  const q = get("q");
  if (q !== undefined) {
    if (q.length > MAX_QUERY_CHARS) return bad("q", `q must be at most ${MAX_QUERY_CHARS} characters`);
    filter.text = q;
  }
  const limit = get("limit");
  if (limit !== undefined) {
    const n = /^\d{1,4}$/.test(limit) ? Number(limit) : 0;
    if (n < 1 || n > MAX_LIMIT) return bad("limit", `limit must be a whole number from 1 to ${MAX_LIMIT}`);
    filter.limit = n;
  }
  const before = get("before");
  if (before !== undefined) {
    const m = CURSOR.exec(before);
    const ts = Number(m?.[1]);
    const seq = Number(m?.[3]);
    if (!m || !Number.isSafeInteger(ts) || !Number.isSafeInteger(seq))
      return bad("before", "before must be the next cursor of an earlier page (ts.author.seq)");
    filter.before = { ts, author: m[2] as string, seq };
  }
  return { ok: true, filter };
}

/** One page of blocks and the cursor of the next; a full page may be followed by an empty one. */
function page(chain: AdminChain, filter: BlockFilter) {
  const blocks = chain.list(filter);
  const last = blocks.at(-1);
  return { blocks, next: last && blocks.length >= (filter.limit ?? DEFAULT_LIMIT) ? cursorOf(last) : null };
}

export function createChainRoutes(opts: {
  chain?: AdminChain;
  node: { name: string; role: string };
  isSetUp(): boolean;
  session(request: Request): { csrfToken: string } | null;
}) {
  const { chain } = opts;
  const unauthorized = () =>
    jsonError(401, "ADMIN_UNAUTHORIZED", "log in first: this API needs an admin session");
  const unavailable = () =>
    jsonError(503, "CHAIN_SYNC_UNAVAILABLE", "the chain is not available on this device");
  /** The JSON routes' common guard: a session and a chain, or the error to answer with. */
  const guard = (request: Request): Response | AdminChain => {
    if (!opts.session(request)) return unauthorized();
    return chain ?? unavailable();
  };

  return {
    page(request: Request): Response {
      if (!opts.isSetUp()) return redirect("/setup");
      const s = opts.session(request);
      if (!s) return redirect("/login");
      const url = new URL(request.url);
      const p = url.searchParams;
      const form = {
        author: p.get("author") ?? "",
        type: p.get("type") ?? "",
        since: p.get("since") ?? "",
        q: p.get("q") ?? "",
        limit: p.get("limit") ?? "",
      };
      const model: ChainPageModel = {
        nodeName: opts.node.name,
        role: opts.node.role,
        csrfToken: s.csrfToken,
        form,
      };
      if (!chain) return htmlResponse(chainPage(model));
      const parsed = parseChainQuery(p);
      const shown = parsed.ok ? page(chain, parsed.filter) : { blocks: [], next: null };
      let nextHref: string | undefined;
      if (shown.next) {
        const next = new URLSearchParams(p);
        next.set("before", shown.next);
        nextHref = `/chain?${next}`;
      }
      model.error = parsed.ok ? undefined : parsed.message;
      model.chain = {
        blocks: shown.blocks,
        nextHref,
        authors: chain.authors(),
        stats: chain.stats(),
        authority: chain.authority?.(),
      };
      return htmlResponse(chainPage(model), parsed.ok ? 200 : 400);
    },
    blocks(request: Request): Response {
      const c = guard(request);
      if (c instanceof Response) return c;
      const parsed = parseChainQuery(new URL(request.url).searchParams);
      if (!parsed.ok) return jsonError(400, "ADMIN_BAD_REQUEST", parsed.message);
      return jsonResponse(page(c, parsed.filter));
    },
    authors(request: Request): Response {
      const c = guard(request);
      return c instanceof Response ? c : jsonResponse({ authors: c.authors() });
    },
    status(request: Request): Response {
      const c = guard(request);
      if (c instanceof Response) return c;
      return jsonResponse({
        stats: c.stats(),
        authority: c.authority?.() ?? null,
        counters: c.counters?.() ?? {},
      });
    },
    /** What /metrics shows about the chain; undefined without one. */
    metrics() {
      return (
        chain && { stats: chain.stats(), authority: chain.authority?.(), counters: chain.counters?.() ?? {} }
      );
    },
  };
}
