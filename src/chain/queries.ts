// Read-side queries over the stored chain for the admin page, its JSON API and `kiana chain show`:
// newest-first pages by keyset, full-text search through chain_fts, and counts read from indexes.
import type { Database, Statement } from "bun:sqlite";
import type { BlockFilter, BlockRowView } from "./view.ts";

export const DEFAULT_LIST_LIMIT = 50;
export const MAX_LIST_LIMIT = 500;
/** More words than this are dropped: each one is another doclist to intersect. */
const MAX_SEARCH_WORDS = 16;

export interface ChainStats {
  blocks: number;
  authors: number;
  knowledge: number;
}

export interface ChainAuthorLength {
  author: string;
  length: number;
  signedLength: number;
}

export interface ChainQueries {
  list(filter?: BlockFilter): BlockRowView[];
  stats(): ChainStats;
  authors(): ChainAuthorLength[];
}

interface ListedRow {
  author: string;
  seq: number;
  ts: number;
  type: string;
  body: Uint8Array;
  hash: Uint8Array;
}

/**
 * What a person typed, as an FTS5 query that cannot be a syntax error: every word becomes a quoted
 * string (so AND, NEAR, column filters and brackets are plain text), the words are ANDed, and a
 * trailing * keeps its prefix meaning. Words with no letter or digit would be empty phrases, which
 * match nothing and would empty the whole AND, so they are dropped. Undefined: nothing to search.
 */
export function ftsQuery(input: string): string | undefined {
  const terms: string[] = [];
  // FTS5 reads the query as a C string: a NUL would end it inside a quote.
  for (const word of input.replace(/\p{Cc}/gu, " ").split(/\s+/)) {
    const core = word.replace(/\*+$/, "");
    if (!/[\p{L}\p{N}\p{Co}]/u.test(core)) continue;
    terms.push(`"${core.replaceAll('"', '""')}"${core.length < word.length ? "*" : ""}`);
    if (terms.length === MAX_SEARCH_WORDS) break;
  }
  return terms.length > 0 ? terms.join(" AND ") : undefined;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function toView(r: ListedRow): BlockRowView {
  let text: string | undefined;
  try {
    text = utf8.decode(r.body);
  } catch {
    text = undefined;
  }
  return {
    author: r.author,
    seq: r.seq,
    ts: r.ts,
    type: r.type,
    text,
    bytes: r.body.length,
    hash: Buffer.from(r.hash).toString("hex"),
  };
}

// Distinct authors by skipping through the (author, seq) primary key: one index seek per author
// instead of visiting every block, which a GROUP BY over a million rows would do.
const AUTHORS_SQL = `WITH RECURSIVE
  a(author) AS (SELECT min(author) FROM chain_block
    UNION ALL SELECT (SELECT min(author) FROM chain_block WHERE author > a.author) FROM a WHERE a.author IS NOT NULL),
  r(author) AS (SELECT min(author) FROM chain_root
    UNION ALL SELECT (SELECT min(author) FROM chain_root WHERE author > r.author) FROM r WHERE r.author IS NOT NULL)
SELECT x.author AS author,
  coalesce((SELECT max(seq) + 1 FROM chain_block WHERE author = x.author), 0) AS length,
  coalesce((SELECT max(length) FROM chain_root WHERE author = x.author), 0) AS signedLength
FROM (SELECT author FROM a WHERE author IS NOT NULL UNION SELECT author FROM r WHERE author IS NOT NULL) AS x
ORDER BY x.author`;

export function createChainQueries(opts: { db: Database }): ChainQueries {
  const { db } = opts;
  const authorsQ = db.query<ChainAuthorLength, []>(AUTHORS_SQL);
  // One row per indexed knowledge block: counting FTS5's own size table reads a small b-tree,
  // where counting chain_block by type would read every block. Older layouts fall back to the index.
  let knowledgeQ: Statement<{ n: number }, []>;
  try {
    knowledgeQ = db.query<{ n: number }, []>("SELECT count(*) AS n FROM chain_fts_docsize");
  } catch {
    knowledgeQ = db.query<{ n: number }, []>("SELECT count(*) AS n FROM chain_fts");
  }

  function list(filter: BlockFilter = {}): BlockRowView[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    let from = "chain_block AS b";
    if (filter.text !== undefined && filter.text.trim() !== "") {
      const match = ftsQuery(filter.text);
      if (match === undefined) return [];
      // CROSS JOIN keeps the full-text match as the outer loop: its hits are usually few.
      from = "chain_fts CROSS JOIN chain_block AS b ON b.rowid = chain_fts.rowid";
      where.push("chain_fts MATCH ?");
      args.push(match);
    }
    if (filter.author !== undefined) {
      where.push("b.author = ?");
      args.push(filter.author);
    }
    if (filter.type !== undefined) {
      where.push("b.type = ?");
      args.push(filter.type);
    }
    if (filter.since !== undefined) {
      where.push("b.ts >= ?");
      args.push(filter.since);
    }
    if (filter.before !== undefined) {
      where.push("(b.ts, b.author, b.seq) < (?, ?, ?)");
      args.push(filter.before.ts, filter.before.author, filter.before.seq);
    }
    const wanted = filter.limit ?? DEFAULT_LIST_LIMIT;
    const limit = Number.isFinite(wanted)
      ? Math.min(Math.max(Math.trunc(wanted), 1), MAX_LIST_LIMIT)
      : DEFAULT_LIST_LIMIT;
    args.push(limit);
    // The order is the keyset: (ts, author, seq) is unique, so `before` resumes exactly.
    const sql = `SELECT b.author, b.seq, b.ts, b.type, b.body, b.hash FROM ${from}
      ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""}
      ORDER BY b.ts DESC, b.author DESC, b.seq DESC LIMIT ?`;
    // db.query caches the prepared statement per SQL text; there are few filter combinations.
    return db
      .query<ListedRow, (string | number)[]>(sql)
      .all(...args)
      .map(toView);
  }

  return {
    list,
    authors: () => authorsQ.all(),
    stats() {
      const authors = authorsQ.all();
      return {
        blocks: authors.reduce((sum, a) => sum + a.length, 0),
        authors: authors.length,
        knowledge: knowledgeQ.get()?.n ?? 0,
      };
    },
  };
}
