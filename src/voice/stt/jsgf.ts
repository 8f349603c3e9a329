// JSGF grammars for pocketsphinx, checked before they reach it: pocketsphinx answers a typo or a word
// missing from its dictionary with a bare exit code 1 and a line buried in kilobytes of log.

export interface JsgfRule {
  name: string;
  public: boolean;
  body: string;
}

export interface JsgfGrammar {
  name: string;
  rules: JsgfRule[];
  /** Every word the grammar can produce, once each, in order of first use. */
  words: string[];
}

export type JsgfParse = { ok: true; grammar: JsgfGrammar } | { ok: false; reason: string };

/** Word → its pronunciation lines, exactly as in a CMU-format dictionary (`word(2)` variants included). */
export type PronunciationDict = ReadonlyMap<string, readonly string[]>;

export type JsgfWordCheck =
  | { ok: true; grammar: JsgfGrammar }
  | { ok: false; reason: string; missing: string[] };

const SPECIAL_RULES = new Set(["NULL", "VOID", "GARBAGE"]);
const TOKEN = /<[^<>\s]+>|"[^"]*"|\{[^}]*\}|\/[^/]*\/|[|()[\]*+]|[^\s|()[\]*+<>{}"/;=]+|\S/g;

/** Parses the grammar's header and rules and lists its words; the reason names the first problem. */
export function parseJsgf(text: string): JsgfParse {
  const fail = (reason: string): JsgfParse => ({ ok: false, reason });
  const src = text.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/\/\/[^\n]*/g, " ");
  const header = /^\s*#JSGF\s+V1\.0[^;]*;/.exec(src);
  if (!header) return fail('the grammar must start with "#JSGF V1.0;"');
  const statements = src
    .slice(header[0].length)
    .split(";")
    .map((s) => s.trim());
  if (statements.at(-1) !== "") return fail(`statement "${statements.at(-1)}" does not end with ";"`);
  statements.pop();
  const named = /^grammar\s+([\w.]+)$/.exec(statements.shift() ?? "");
  if (!named?.[1]) return fail('the header must be followed by "grammar <name>;"');
  const rules: JsgfRule[] = [];
  for (const s of statements) {
    if (s.startsWith("import")) return fail(`imports are not supported: "${s}"`);
    const m = /^(public\s+)?<([\w.-]+)>\s*=([\s\S]*)$/.exec(s);
    if (!m?.[2]) return fail(`"${s}" is not a rule ("<name> = ...;")`);
    if (rules.some((r) => r.name === m[2])) return fail(`rule <${m[2]}> is defined twice`);
    rules.push({ name: m[2], public: Boolean(m[1]), body: (m[3] ?? "").trim() });
  }
  if (!rules.some((r) => r.public)) return fail("no public rule: pocketsphinx needs one to start from");
  const words: string[] = [];
  const seen = new Set<string>();
  const defined = new Set(rules.map((r) => r.name));
  for (const rule of rules) {
    const problem = scanBody(rule, defined, (w) => {
      if (!seen.has(w)) words.push(w);
      seen.add(w);
    });
    if (problem) return fail(`rule <${rule.name}>: ${problem}`);
  }
  return { ok: true, grammar: { name: named[1], rules, words } };
}

/** Walks one rule body: balanced groups, no empty alternatives, known rule references. */
function scanBody(rule: JsgfRule, defined: Set<string>, word: (w: string) => void): string | null {
  const closers: string[] = [];
  // Whether the current alternative holds something yet; an empty one is a pocketsphinx syntax error.
  let filled = false;
  for (const tok of rule.body.match(TOKEN) ?? []) {
    if (tok.startsWith("{") || (tok.startsWith("/") && tok.length > 1)) continue;
    if (tok === "(" || tok === "[") {
      closers.push(tok === "(" ? ")" : "]");
      filled = false;
    } else if (tok === ")" || tok === "]") {
      if (closers.pop() !== tok) return `unbalanced "${tok}"`;
      if (!filled) return `empty group before "${tok}"`;
    } else if (tok === "|") {
      if (!filled) return 'empty alternative before "|"';
      filled = false;
    } else if (tok === "*" || tok === "+") {
      if (!filled) return `"${tok}" follows nothing`;
    } else if (tok.startsWith("<")) {
      const ref = tok.slice(1, -1);
      if (!defined.has(ref) && !SPECIAL_RULES.has(ref)) return `refers to undefined rule ${tok}`;
      filled = true;
    } else if (tok.startsWith('"')) {
      const inner = tok.slice(1, -1);
      if (!/^\S+$/.test(inner)) return `quoted token ${tok} must be one word`;
      word(inner);
      filled = true;
    } else if (/^[^\s|()[\]*+<>{}"/;=]+$/.test(tok)) {
      word(tok);
      filled = true;
    } else {
      return `unexpected "${tok}"`;
    }
  }
  if (closers.length > 0) return `missing "${closers.at(-1)}"`;
  if (!filled) return "empty alternative at the end";
  return null;
}

/** Reads a CMU-format dictionary ("word  P H O N E S" lines, `word(2)` for variants). */
export function parsePronunciationDict(text: string): Map<string, string[]> {
  const dict = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const m = /^(\S+?)(?:\(\d+\))?\s+\S/.exec(line);
    if (!m?.[1]) continue;
    const lines = dict.get(m[1]);
    if (lines) lines.push(line.trimEnd());
    else dict.set(m[1], [line.trimEnd()]);
  }
  return dict;
}

/** Parses the grammar and checks that the dictionary can pronounce each of its words. */
export function checkJsgfWords(jsgf: string, dict: PronunciationDict): JsgfWordCheck {
  const parsed = parseJsgf(jsgf);
  if (!parsed.ok) return { ok: false, reason: `invalid JSGF grammar: ${parsed.reason}`, missing: [] };
  const missing = parsed.grammar.words.filter((w) => !dict.has(w));
  if (missing.length === 0) return { ok: true, grammar: parsed.grammar };
  const lower = missing.filter((w) => w !== w.toLowerCase() && dict.has(w.toLowerCase()));
  const hint = lower.length > 0 ? ` (the dictionary is lower case: ${lower.join(", ")})` : "";
  return {
    ok: false,
    reason: `grammar words missing from the pronunciation dictionary: ${missing.join(", ")}${hint}`,
    missing,
  };
}

/** The dictionary lines for the grammar's words only: pocketsphinx loads it in a fraction of the time. */
export function grammarDictionary(grammar: JsgfGrammar, dict: PronunciationDict): string {
  return `${grammar.words.flatMap((w) => dict.get(w) ?? []).join("\n")}\n`;
}
