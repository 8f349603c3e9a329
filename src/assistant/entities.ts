// The words an intent slot can take: numbers spoken as words, time units, on/off, the configured
// devices, and the things, places and timer names that free text may be when it is spoken.
import type { TemplateNode } from "./intents.ts";

/** A device the assistant can switch, from config. `id` and `node` become MQTT topic levels. */
export interface DeviceEntity {
  /** What people call it: "kitchen light". */
  name: string;
  /** Other names for the same device: "kitchen lamp". */
  aliases?: readonly string[];
  id: string;
  /** The node that owns the device; default: the hub's own node. */
  node?: string;
}

/** One spoken phrase of a list slot and the value it stands for. */
export interface ListEntry {
  phrase: readonly string[];
  value: string;
}

/** How a `{slot}` in a template is filled. */
export type SlotType =
  | { kind: "number" }
  | { kind: "list"; entries: readonly ListEntry[] }
  /**
   * Typed: any words, at most `maxWords` (default FREE_MAX_WORDS); the bound keeps the matcher's
   * backtracking short. Spoken: only the phrases `spoken` derives (words, alternatives and optionals,
   * no slots); without it a template using the slot is typed only and left out of the speech grammar.
   * An open word loop in a grammar would attract every sentence the recogniser is unsure of.
   */
  | { kind: "free"; maxWords?: number; spoken?: TemplateNode };

/** Longest free slot by default: "my passport is in the top drawer of the desk" fits, a paragraph does not. */
export const FREE_MAX_WORDS = 10;

/**
 * The words remembered facts and timer names are spoken with. A fact is heard as
 * "<owner> <item> (is | are) <relation> the [<qualifier>] <place>" ("my keys are in the top drawer"),
 * a question about one as "<owner> <item>"; typed facts may be any words.
 */
export interface SpeechWords {
  /** Said before a thing: "my keys", "the passport". */
  owners: readonly string[];
  /** Things people put away; several words each at most ("car keys"). */
  items: readonly string[];
  /** Where a thing is relative to a place: "in", "next to". */
  relations: readonly string[];
  /** Words that narrow a place: "top" drawer, "kitchen" table. */
  qualifiers: readonly string[];
  places: readonly string[];
  /** Names a spoken timer may have: "set a timer for ten minutes called pasta". */
  timerNames: readonly string[];
}

const words = (s: string) => s.split(/\s*,\s*/);

export const DEFAULT_SPEECH_WORDS: Readonly<SpeechWords> = Object.freeze({
  owners: words("the, my"),
  items: words(
    "keys, key, car keys, wallet, purse, phone, glasses, passport, remote, charger, umbrella, bag, " +
      "coat, jacket, shoes, tickets, medicine, pills, laptop, headphones, scissors, book",
  ),
  relations: words("in, on, under, behind, next to, near, inside"),
  qualifiers: words("top, bottom, left, right, kitchen, bedroom, front, back"),
  places: words(
    "drawer, cupboard, shelf, table, desk, kitchen, bedroom, bathroom, garage, hall, hallway, office, " +
      "living room, fridge, box, basket, counter, sofa, couch, bed, door, window, car, bag, coat, shed",
  ),
  timerNames: words("pasta, eggs, rice, tea, coffee, bread, oven, pizza, cake, laundry, washing, potatoes"),
});

const ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];
const TEENS = ["ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen"];
const TEENS2 = ["sixteen", "seventeen", "eighteen", "nineteen"];
const TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];

/** Word → value for the single words a number can be made of. */
const NUMBER_WORDS = new Map<string, number>([
  ...ONES.map((w, i) => [w, i] as const),
  ...[...TEENS, ...TEENS2].map((w, i) => [w, 10 + i] as const),
]);
const TENS_WORDS = new Map(TENS.map((w, i) => [w, 20 + 10 * i] as const));

/** Spoken numbers the grammar offers: "a", 0–99, "and a half"; enough for timers and counts. */
export const NUMBER_VOCABULARY = {
  units: ONES.slice(1),
  small: [...ONES, ...TEENS, ...TEENS2],
  tens: TENS,
  article: ["a", "an"],
  half: ["and", "a", "half"],
} as const;

/**
 * The value of a whole word sequence, or undefined: "5", "twenty five", "a" (as in "a minute"),
 * "one and a half". Anything that is not exactly a number is refused so that templates stay strict.
 */
export function parseNumber(words: readonly string[]): number | undefined {
  let rest = words;
  let half = 0;
  if (rest.length > 3 && rest.slice(-3).join(" ") === "and a half") {
    rest = rest.slice(0, -3);
    half = 0.5;
  }
  if (rest.length === 1) {
    const w = rest[0] ?? "";
    if (/^\d+(\.\d+)?$/.test(w)) return Number(w) + half;
    if (w === "a" || w === "an") return 1 + half;
    const v = NUMBER_WORDS.get(w) ?? TENS_WORDS.get(w);
    return v === undefined ? undefined : v + half;
  }
  if (rest.length === 2) {
    const tens = TENS_WORDS.get(rest[0] ?? "");
    const ones = NUMBER_WORDS.get(rest[1] ?? "");
    if (tens !== undefined && ones !== undefined && ones >= 1 && ones <= 9) return tens + ones + half;
  }
  return undefined;
}

/** Time units for timers, singular and plural, in milliseconds. */
export const UNIT_MS: Readonly<Record<string, number>> = { second: 1000, minute: 60_000, hour: 3_600_000 };

export const UNIT_SLOT: SlotType = {
  kind: "list",
  entries: Object.keys(UNIT_MS).flatMap((u) => [
    { phrase: [u], value: u },
    { phrase: [`${u}s`], value: u },
  ]),
};

export const ON_OFF_SLOT: SlotType = {
  kind: "list",
  entries: [
    { phrase: ["on"], value: "on" },
    { phrase: ["off"], value: "off" },
  ],
};

export function deviceSlot(devices: readonly DeviceEntity[]): SlotType {
  return {
    kind: "list",
    entries: devices.flatMap((d) =>
      [d.name, ...(d.aliases ?? [])].map((name) => ({ phrase: normalizeText(name), value: d.id })),
    ),
  };
}

const CONTRACTIONS: Readonly<Record<string, string>> = {
  "what's": "what is",
  "where's": "where is",
  "it's": "it is",
  "how's": "how is",
  "that's": "that is",
  "there's": "there is",
  "i'm": "i am",
  "don't": "do not",
  "can't": "can not",
  "today's": "today",
};

/** Lower-case words without punctuation, contractions spelled out: what templates are matched against. */
export function normalizeText(text: string): string[] {
  const words: string[] = [];
  const cleaned = text
    .toLowerCase()
    .replace(/[\u2018\u2019]/g, "'")
    // Keep decimal points inside numbers ("1.5") behind a private-use mark; other punctuation separates words.
    .replace(/(\d)\.(\d)/g, "$1\uE000$2")
    .replace(/[^\p{L}\p{N}'\uE000]+/gu, " ")
    .replace(/\uE000/g, ".");
  for (const raw of cleaned.split(" ")) {
    const word = raw.replace(/^'+|'+$/g, "");
    if (word === "") continue;
    const expanded = CONTRACTIONS[word];
    if (expanded) words.push(...expanded.split(" "));
    else words.push(word.replace(/'/g, ""));
  }
  return words;
}
