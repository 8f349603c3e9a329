// A small JSGF reader: parses the subset kiana writes (and pocketsphinx reads) into rule trees, so
// tests and the STT adapter can ask which words a grammar uses and whether it accepts a sentence.

export type JsgfNode =
  | { kind: "token"; word: string }
  | { kind: "rule"; name: string }
  | { kind: "seq"; items: JsgfNode[] }
  | { kind: "alt"; options: JsgfNode[] }
  | { kind: "opt"; item: JsgfNode }
  | { kind: "repeat"; item: JsgfNode; min: 0 | 1 };

export interface JsgfGrammar {
  name: string;
  rules: Map<string, JsgfNode>;
  publicRules: string[];
}

const bad = (why: string) => new SyntaxError(`JSGF: ${why}`);

/** Parses a grammar; throws SyntaxError naming the problem. Tags `{...}` and weights `/w/` are skipped. */
export function parseJsgf(text: string): JsgfGrammar {
  const body = text.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/\/\/[^\n]*/g, " ");
  const header = body.match(/^\s*#JSGF\s+V1\.0[^;]*;\s*grammar\s+([\w.]+)\s*;/);
  if (!header) throw bad("missing the #JSGF V1.0; and grammar header");
  const rules = new Map<string, JsgfNode>();
  const publicRules: string[] = [];
  const rest = body.slice(header[0].length).replace(/^\s*import\s+<[^>]+>\s*;/gm, " ");
  const tokens =
    rest.match(/"(?:[^"\\]|\\.)*"|<[^>\s]+>|\{[^}]*\}|\/[^/]*\/|[()[\]|;=+*]|[^\s()[\]|;=+*<>"{}/]+/g) ?? [];
  let at = 0;
  const expansion = (): JsgfNode => {
    const options: JsgfNode[] = [];
    let items: JsgfNode[] = [];
    const close = () => {
      if (items.length === 0) throw bad("an empty alternative");
      options.push(items.length === 1 ? (items[0] as JsgfNode) : { kind: "seq", items });
      items = [];
    };
    for (;;) {
      const t = tokens[at];
      if (t === undefined || t === ")" || t === "]" || t === ";") {
        close();
        return options.length === 1 ? (options[0] as JsgfNode) : { kind: "alt", options };
      }
      at++;
      if (t === "|") close();
      else if (t.startsWith("{") || t.startsWith("/")) continue;
      else if (t === "+" || t === "*") {
        const last = items.pop();
        if (!last) throw bad(`"${t}" after nothing`);
        items.push({ kind: "repeat", item: last, min: t === "+" ? 1 : 0 });
      } else if (t === "(" || t === "[") {
        const inner = expansion();
        if (tokens[at++] !== (t === "(" ? ")" : "]")) throw bad(`unclosed "${t}"`);
        items.push(t === "(" ? inner : { kind: "opt", item: inner });
      } else if (t.startsWith("<")) items.push({ kind: "rule", name: t.slice(1, -1) });
      else if (t.startsWith('"')) items.push({ kind: "token", word: t.slice(1, -1).replace(/\\(.)/g, "$1") });
      else if (t === "=") throw bad('unexpected "="');
      else items.push({ kind: "token", word: t });
    }
  };
  while (at < tokens.length) {
    const isPublic = tokens[at] === "public";
    if (isPublic) at++;
    const name = tokens[at++];
    if (!name?.startsWith("<") || tokens[at++] !== "=") throw bad(`expected "<rule> =" near ${name}`);
    const ruleName = name.slice(1, -1);
    if (rules.has(ruleName)) throw bad(`rule <${ruleName}> is defined twice`);
    rules.set(ruleName, expansion());
    if (tokens[at++] !== ";") throw bad(`rule <${ruleName}> does not end with ";"`);
    if (isPublic) publicRules.push(ruleName);
  }
  for (const node of rules.values()) checkRefs(node, rules);
  return { name: header[1] as string, rules, publicRules };
}

function checkRefs(node: JsgfNode, rules: Map<string, JsgfNode>): void {
  if (node.kind === "rule") {
    if (node.name !== "NULL" && node.name !== "VOID" && !rules.has(node.name))
      throw bad(`rule <${node.name}> is used but not defined`);
  } else if (node.kind === "seq") for (const n of node.items) checkRefs(n, rules);
  else if (node.kind === "alt") for (const n of node.options) checkRefs(n, rules);
  else if (node.kind !== "token") checkRefs(node.item, rules);
}

/** Every word a recogniser needs in its dictionary for this grammar, sorted. */
export function grammarWords(jsgf: string | JsgfGrammar): string[] {
  const grammar = typeof jsgf === "string" ? parseJsgf(jsgf) : jsgf;
  const words = new Set<string>();
  const visit = (node: JsgfNode): void => {
    if (node.kind === "token") words.add(node.word);
    else if (node.kind === "seq") node.items.forEach(visit);
    else if (node.kind === "alt") node.options.forEach(visit);
    else if (node.kind !== "rule") visit(node.item);
  };
  for (const node of grammar.rules.values()) visit(node);
  return [...words].sort();
}

/**
 * Whether a public rule of the grammar derives exactly these words (space-separated, matched as
 * written). Runs the grammar as a set-of-positions automaton, so ambiguity costs no backtracking.
 */
export function jsgfAccepts(jsgf: string | JsgfGrammar, sentence: string | readonly string[]): boolean {
  const grammar = typeof jsgf === "string" ? parseJsgf(jsgf) : jsgf;
  const words = typeof sentence === "string" ? sentence.split(/\s+/).filter(Boolean) : sentence;
  const advance = (node: JsgfNode, from: ReadonlySet<number>, depth: number): Set<number> => {
    if (depth > 64) throw bad("rules nest too deep (recursive grammar?)");
    switch (node.kind) {
      case "token":
        return new Set([...from].filter((p) => words[p] === node.word).map((p) => p + 1));
      case "rule": {
        if (node.name === "NULL") return new Set(from);
        const rule = grammar.rules.get(node.name);
        return rule ? advance(rule, from, depth + 1) : new Set();
      }
      case "seq":
        return node.items.reduce<Set<number>>((at, item) => advance(item, at, depth), new Set(from));
      case "alt":
        return new Set(node.options.flatMap((o) => [...advance(o, from, depth)]));
      case "opt":
        return new Set([...from, ...advance(node.item, from, depth)]);
      case "repeat": {
        const reached = new Set(node.min === 0 ? from : []);
        let frontier: ReadonlySet<number> = from;
        // Each pass consumes at least one word, or adds nothing new: the loop ends.
        for (;;) {
          const next = [...advance(node.item, frontier, depth)].filter((p) => !reached.has(p));
          if (next.length === 0) return reached;
          for (const p of next) reached.add(p);
          frontier = new Set(next);
        }
      }
    }
  };
  return grammar.publicRules.some((name) =>
    advance({ kind: "rule", name }, new Set([0]), 0).has(words.length),
  );
}
