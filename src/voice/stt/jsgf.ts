// JSGF grammars for pocketsphinx, checked before they reach it: pocketsphinx answers a typo or a word
// missing from its dictionary with a bare exit code 1 and a line buried in kilobytes of log. The
// grammar is read by the assistant's JSGF reader, the one that writes it.
import { grammarWords, parseJsgf } from "../../assistant/index.ts";

/** Word → its pronunciation lines, exactly as in a CMU-format dictionary (`word(2)` variants included). */
export type PronunciationDict = ReadonlyMap<string, readonly string[]>;

export type JsgfWordCheck = { ok: true; words: string[] } | { ok: false; reason: string; missing: string[] };

/** The grammar's words, or why pocketsphinx could not use it. */
function readWords(jsgf: string): { words: string[] } | { reason: string } {
  try {
    const grammar = parseJsgf(jsgf);
    if (grammar.publicRules.length === 0)
      return { reason: "no public rule: pocketsphinx needs one to start from" };
    return { words: grammarWords(grammar) };
  } catch (err) {
    return { reason: err instanceof Error ? err.message : String(err) };
  }
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
  const read = readWords(jsgf);
  if ("reason" in read) return { ok: false, reason: `invalid JSGF grammar: ${read.reason}`, missing: [] };
  const missing = read.words.filter((w) => !dict.has(w));
  if (missing.length === 0) return { ok: true, words: read.words };
  const lower = missing.filter((w) => w !== w.toLowerCase() && dict.has(w.toLowerCase()));
  const hint = lower.length > 0 ? ` (the dictionary is lower case: ${lower.join(", ")})` : "";
  return {
    ok: false,
    reason: `grammar words missing from the pronunciation dictionary: ${missing.join(", ")}${hint}`,
    missing,
  };
}

/** The dictionary lines for the grammar's words only: pocketsphinx loads it in a fraction of the time. */
export function grammarDictionary(words: readonly string[], dict: PronunciationDict): string {
  return `${words.flatMap((w) => dict.get(w) ?? []).join("\n")}\n`;
}
