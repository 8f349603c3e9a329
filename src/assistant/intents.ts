// Intent templates ("[please] set a timer for {amount} {unit}") parsed once into a small tree, and
// the pure matcher that fills their slots from normalised words. The speech grammar is generated
// from the same trees, so what the recogniser can hear is exactly what the matcher understands.
import { kianaError } from "../errors.ts";
import { FREE_MAX_WORDS, normalizeText, parseNumber, type SlotType } from "./entities.ts";

export type TemplateNode =
  | { kind: "word"; word: string }
  | { kind: "slot"; name: string }
  | { kind: "seq"; items: readonly TemplateNode[] }
  | { kind: "alt"; options: readonly TemplateNode[] }
  | { kind: "opt"; item: TemplateNode };

export interface IntentDefinition {
  /** Stable name handlers dispatch on: "timer.start". */
  name: string;
  /** Normalised words; `[x]` optional, `(a|b)` alternatives, `{slot}` a typed slot. */
  templates: readonly string[];
  slots?: Readonly<Record<string, SlotType>>;
  /** Sentences people say for this intent, as typed or heard; tests check each one. */
  examples?: readonly string[];
}

export interface Intent extends IntentDefinition {
  readonly slots: Readonly<Record<string, SlotType>>;
  readonly trees: readonly TemplateNode[];
}

export type SlotValues = Record<string, string | number>;

export interface IntentMatch {
  intent: Intent;
  slots: SlotValues;
}

/** Longer input is not a command; backtracking over it would only cost time. */
export const MAX_MATCH_WORDS = 48;
/** "twenty five and a half" is the longest number the entities know. */
const MAX_NUMBER_WORDS = 5;

const invalid = (template: string, why: string) =>
  kianaError("CONFIG_INVALID", `intent template ${JSON.stringify(template)}: ${why}`, { template });

/** Parses one template; throws CONFIG_INVALID with the reason for malformed ones. */
export function parseTemplate(template: string): TemplateNode {
  const tokens = template.match(/\{[^}]*\}|[()[\]|]|[^\s()[\]|{}]+|\S/g) ?? [];
  let at = 0;
  const alternatives = (closer: string | undefined): TemplateNode => {
    const options: TemplateNode[] = [];
    let items: TemplateNode[] = [];
    for (;;) {
      const t = tokens[at++];
      if (t === undefined || t === ")" || t === "]") {
        if (t !== closer) throw invalid(template, closer ? `missing "${closer}"` : `unexpected "${t}"`);
        if (items.length === 0) throw invalid(template, "an empty alternative");
        options.push(items.length === 1 ? (items[0] as TemplateNode) : { kind: "seq", items });
        return options.length === 1 ? (options[0] as TemplateNode) : { kind: "alt", options };
      }
      if (t === "|") {
        if (items.length === 0) throw invalid(template, "an empty alternative");
        options.push(items.length === 1 ? (items[0] as TemplateNode) : { kind: "seq", items });
        items = [];
      } else if (t === "(") items.push(alternatives(")"));
      else if (t === "[") items.push({ kind: "opt", item: alternatives("]") });
      else if (t.startsWith("{")) {
        const name = t.slice(1, -1);
        if (!/^[a-z][a-z0-9_]*$/.test(name)) throw invalid(template, `bad slot name ${t}`);
        items.push({ kind: "slot", name });
      } else {
        // Templates are compared with normalizeText's output, so a word it would change never matches.
        if (normalizeText(t).join(" ") !== t) throw invalid(template, `"${t}" is not a normalised word`);
        items.push({ kind: "word", word: t });
      }
    }
  };
  return alternatives(undefined);
}

/** The slot names a template tree refers to. */
export function slotNames(node: TemplateNode, into = new Set<string>()): Set<string> {
  if (node.kind === "slot") into.add(node.name);
  else if (node.kind === "seq") for (const n of node.items) slotNames(n, into);
  else if (node.kind === "alt") for (const n of node.options) slotNames(n, into);
  else if (node.kind === "opt") slotNames(node.item, into);
  return into;
}

/** The most words `node` can consume: a bound for free slots whose spoken phrases are given. */
export function longestPhrase(node: TemplateNode): number {
  switch (node.kind) {
    case "word":
    case "slot":
      return 1;
    case "opt":
      return longestPhrase(node.item);
    case "alt":
      return Math.max(...node.options.map(longestPhrase));
    case "seq":
      return node.items.reduce((n, item) => n + longestPhrase(item), 0);
  }
}

/**
 * Parses and checks an intent: every `{slot}` must have a type, every type must be used, and a free
 * slot's spoken phrases must be plain words within its typed bound (what is heard must also match).
 */
export function defineIntent(def: IntentDefinition): Intent {
  const slots = def.slots ?? {};
  const trees = def.templates.map(parseTemplate);
  if (trees.length === 0) throw kianaError("CONFIG_INVALID", `intent ${def.name} has no templates`);
  const used = new Set<string>();
  def.templates.forEach((template, i) => {
    for (const name of slotNames(trees[i] as TemplateNode)) {
      if (!slots[name]) throw invalid(template, `slot {${name}} has no type`);
      used.add(name);
    }
  });
  for (const [name, type] of Object.entries(slots)) {
    if (!used.has(name)) throw kianaError("CONFIG_INVALID", `intent ${def.name}: slot ${name} is never used`);
    if (type.kind !== "free" || !type.spoken) continue;
    const why =
      slotNames(type.spoken).size > 0
        ? "spoken phrases cannot contain slots"
        : longestPhrase(type.spoken) > (type.maxWords ?? FREE_MAX_WORDS)
          ? `spoken phrases are longer than ${type.maxWords ?? FREE_MAX_WORDS} words`
          : undefined;
    if (why) throw kianaError("CONFIG_INVALID", `intent ${def.name}: slot ${name}: ${why}`);
  }
  return Object.freeze({ ...def, slots, trees });
}

type State = { at: number; slots: SlotValues };

/** Every way `node` can consume words from `s.at` on, lazily, in template order. */
function* step(
  node: TemplateNode,
  words: readonly string[],
  s: State,
  types: Intent["slots"],
): Generator<State> {
  switch (node.kind) {
    case "word":
      if (words[s.at] === node.word) yield { at: s.at + 1, slots: s.slots };
      return;
    case "opt":
      // Present first: "remember [that] {fact}" should not swallow "that" into the fact.
      yield* step(node.item, words, s, types);
      yield s;
      return;
    case "alt":
      for (const option of node.options) yield* step(option, words, s, types);
      return;
    case "seq":
      yield* sequence(node.items, 0, words, s, types);
      return;
    case "slot":
      yield* slot(node.name, types[node.name], words, s);
      return;
  }
}

function* sequence(
  items: readonly TemplateNode[],
  i: number,
  words: readonly string[],
  s: State,
  types: Intent["slots"],
): Generator<State> {
  const item = items[i];
  if (!item) {
    yield s;
    return;
  }
  for (const next of step(item, words, s, types)) yield* sequence(items, i + 1, words, next, types);
}

function* slot(name: string, type: SlotType | undefined, words: readonly string[], s: State) {
  const fill = (length: number, value: string | number): State => ({
    at: s.at + length,
    slots: { ...s.slots, [name]: value },
  });
  if (!type) return;
  if (type.kind === "number") {
    for (let n = 1; n <= MAX_NUMBER_WORDS && s.at + n <= words.length; n++) {
      const value = parseNumber(words.slice(s.at, s.at + n));
      if (value !== undefined) yield fill(n, value);
    }
  } else if (type.kind === "list") {
    for (const entry of type.entries) {
      const n = entry.phrase.length;
      if (n > 0 && entry.phrase.every((w, k) => words[s.at + k] === w)) yield fill(n, entry.value);
    }
  } else {
    const max = type.maxWords ?? FREE_MAX_WORDS;
    for (let n = 1; n <= max && s.at + n <= words.length; n++)
      yield fill(n, words.slice(s.at, s.at + n).join(" "));
  }
}

/**
 * The first intent (in the given order) with a template matching all of `text`, with its slot
 * values: numbers as numbers, list slots as their value, free slots as the words said.
 */
export function matchIntent(
  text: string | readonly string[],
  intents: readonly Intent[],
): IntentMatch | undefined {
  const words = typeof text === "string" ? normalizeText(text) : text;
  if (words.length === 0 || words.length > MAX_MATCH_WORDS) return undefined;
  for (const intent of intents)
    for (const tree of intent.trees)
      for (const end of step(tree, words, { at: 0, slots: {} }, intent.slots))
        if (end.at === words.length) return { intent, slots: end.slots };
  return undefined;
}
