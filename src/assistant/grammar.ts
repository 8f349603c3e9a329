// The speech grammar (JSGF, as pocketsphinx reads it) generated from the intent templates: one rule
// per intent, one per slot type, numbers one to ninety-nine as words and free slots as their listed
// spoken phrases. The recogniser can then only hear sentences the matcher understands.
import { NUMBER_VOCABULARY, type SlotType } from "./entities.ts";
import type { Intent, TemplateNode } from "./intents.ts";

export const GRAMMAR_NAME = "kiana";

/** A grammar token: plain when JSGF allows it, quoted otherwise ("1.5" from a device name, say). */
function token(word: string): string {
  return /^[\p{L}\p{N}'-]+$/u.test(word) ? word : `"${word.replace(/["\\]/g, "\\$&")}"`;
}

/** <VOID> only where nothing at all can be said: pocketsphinx voids the whole grammar with it. */
const alternatives = (options: readonly string[]) => (options.length === 0 ? "<VOID>" : options.join(" | "));

/** The numbers a timer is spoken with: "a", "an", one to ninety-nine, each with "and a half". */
function numberRules(): string[] {
  const { units, small, tens, article } = NUMBER_VOCABULARY;
  return [
    `<digit> = ${units.join(" | ")};`,
    // "zero" is a number but never a useful amount; leaving it out keeps "zero minutes" unheard.
    `<below_hundred> = ${small.filter((w) => w !== "zero").join(" | ")} | (${tens.join(" | ")}) [<digit>];`,
    `<number> = ${article.join(" | ")} | <below_hundred> [${NUMBER_VOCABULARY.half.join(" ")}];`,
  ];
}

/** A slot's rule body, or undefined when it cannot be spoken (no devices, free text without phrases). */
function slotBody(type: SlotType): string | undefined {
  if (type.kind === "number") return "<number>";
  if (type.kind === "free") return (type.spoken && expansion(type.spoken, () => undefined)) || undefined;
  const phrases = [...new Set(type.entries.map((e) => e.phrase.map(token).join(" ")))].filter(Boolean);
  return phrases.length > 0 ? phrases.join(" | ") : undefined;
}

/** JSGF rule names: the intent's name with anything but letters and digits turned into "_". */
export const ruleName = (name: string) => name.toLowerCase().replace(/[^a-z0-9]+/g, "_");

/**
 * A template as a JSGF expansion; undefined when it cannot match anything (it needs an empty
 * slot), "" when it matches only silence. Such parts are left out rather than written as <VOID>,
 * because pocketsphinx then drops the whole grammar, not just that alternative.
 */
function expansion(node: TemplateNode, slotRule: (name: string) => string | undefined): string | undefined {
  switch (node.kind) {
    case "word":
      return token(node.word);
    case "slot": {
      const rule = slotRule(node.name);
      return rule === undefined ? undefined : `<${rule}>`;
    }
    case "opt": {
      const inner = expansion(node.item, slotRule);
      return inner ? `[${inner}]` : "";
    }
    case "alt": {
      const options = node.options.map((o) => expansion(o, slotRule)).filter((o) => o !== undefined);
      if (options.length === 0) return undefined;
      return `(${options.map((o) => (o === "" ? "<NULL>" : o)).join(" | ")})`;
    }
    case "seq": {
      const items = node.items.map((i) => expansion(i, slotRule));
      if (items.some((i) => i === undefined)) return undefined;
      return items.filter(Boolean).join(" ");
    }
  }
}

/**
 * The JSGF grammar for `intents` (their slots already carry the configured devices and spoken
 * phrases). Templates with a slot that cannot be spoken are left out: the grammar has no open word
 * loop, which would otherwise attract every sentence the recogniser is unsure of. Words are lower
 * case; the public rule is `<command>`.
 */
export function toJsgf(intents: readonly Intent[]): string {
  const slotRules = new Map<string, string>(); // body → rule name; identical slot types share a rule
  const taken = new Set(["command", "number", "digit", "below_hundred"]);
  const intentRules: string[] = [];
  const names: string[] = [];
  for (const intent of intents) {
    const slotRule = (slot: string) => {
      const type = intent.slots[slot];
      const body = type && slotBody(type);
      if (body === undefined) return undefined;
      if (body === "<number>") return "number";
      let rule = slotRules.get(body);
      if (!rule) {
        rule = ruleName(`slot_${slot}`);
        for (let n = 2; taken.has(rule); n++) rule = ruleName(`slot_${slot}_${n}`);
        taken.add(rule);
        slotRules.set(body, rule);
      }
      return rule;
    };
    const bodies = intent.trees.map((t) => expansion(t, slotRule)).filter((b) => b !== undefined);
    // An intent that needs a slot with no phrases (device control without devices) is not heard.
    if (bodies.length === 0) continue;
    let name = ruleName(intent.name);
    for (let n = 2; taken.has(name); n++) name = `${ruleName(intent.name)}_${n}`;
    taken.add(name);
    names.push(name);
    intentRules.push(`<${name}> = ${bodies.map((b) => b || "<NULL>").join(" | ")};`);
  }
  return [
    "#JSGF V1.0;",
    `grammar ${GRAMMAR_NAME};`,
    "",
    `public <command> = ${alternatives(names.map((n) => `<${n}>`))};`,
    "",
    ...intentRules,
    "",
    ...[...slotRules].map(([body, rule]) => `<${rule}> = ${body};`),
    ...numberRules(),
    "",
  ].join("\n");
}
