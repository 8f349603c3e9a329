import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { builtinIntents } from "./builtin-intents.ts";
import { DEFAULT_SPEECH_WORDS, normalizeText } from "./entities.ts";
import { toJsgf } from "./grammar.ts";
import { defineIntent, matchIntent } from "./intents.ts";
import { grammarWords, jsgfAccepts, parseJsgf } from "./jsgf.ts";

const devices = [
  { name: "kitchen light", aliases: ["kitchen lamp"], id: "kitchen-light" },
  { name: "fan", id: "fan" },
];
const intents = builtinIntents(devices);
const jsgf = toJsgf(intents);
const grammar = parseJsgf(jsgf);
const hears = (sentence: string) => jsgfAccepts(grammar, normalizeText(sentence));

describe("the grammar generated from the built-in intents", () => {
  test("has the JSGF header, the kiana name and one public command over every intent", () => {
    expect(jsgf.startsWith("#JSGF V1.0;\ngrammar kiana;\n")).toBe(true);
    expect(grammar.publicRules).toEqual(["command"]);
    expect(jsgf).toContain(
      "public <command> = <time> | <date> | <timer_start> | <timer_cancel> | <timer_remaining> | <remember> | <recall> | <device_set>;",
    );
    expect(jsgf).not.toContain("<VOID>");
  });

  test("every example sentence of every intent is in the grammar's language", () => {
    const examples = intents.flatMap((i) => i.examples ?? []);
    expect(examples.length).toBeGreaterThan(25);
    for (const e of examples) expect([e, hears(e)]).toEqual([e, true]);
  });

  test("spoken variants are heard: numbers as words, plurals, aliases, listed things and names", () => {
    for (const s of [
      "set a timer for ninety nine minutes",
      "set a timer for twenty one and a half seconds",
      "start a one hour timer called eggs",
      "how long is left on the eggs timer",
      "switch the kitchen lamp on",
      "turn off fan",
      "remember that the passport is in the top drawer",
      "remember my car keys are next to the front door",
      "where is the umbrella",
      "where did i leave my car keys",
    ])
      expect([s, hears(s)]).toEqual([s, true]);
  });

  test("sentences outside the templates are not heard", () => {
    for (const s of [
      "tell me a joke",
      "what time is it in tokyo",
      "set a timer for zero minutes",
      "set a timer for a hundred minutes",
      "set a timer for 5 minutes",
      "turn on the garage light",
      "remember that",
      "remember that my keys are in the drawer in the kitchen by the door",
      "where are my unicorns",
      "where are the the keys",
      "remember that the keys",
      "remember that the keys are in the blue drawer",
      "what time is",
      "",
    ])
      expect([s, hears(s)]).toEqual([s, false]);
  });

  test("whatever the grammar hears, the matcher understands as the same intent", () => {
    for (const s of [
      "set a pasta timer for two minutes",
      "cancel the tea timer",
      "where did i leave my phone",
    ])
      expect([s, hears(s), matchIntent(s, intents)?.intent.name !== undefined]).toEqual([s, true, true]);
  });

  test("the words are lower case: the template words, numbers, units, devices, things and places", () => {
    const words = grammarWords(jsgf);
    for (const w of [
      "what",
      "timer",
      "ninety",
      "half",
      "seconds",
      "kitchen",
      "lamp",
      "fan",
      "drawer",
      "pasta",
    ])
      expect(words).toContain(w);
    expect(words.every((w) => w === w.toLowerCase())).toBe(true);
    expect(words).not.toContain("command");
    expect(words).not.toContain("public");
  });

  test("without devices the device rule is left out, never voided: the rest stays speakable", () => {
    const none = toJsgf(builtinIntents([]));
    expect(none).not.toContain("<device_set>");
    expect(none).not.toContain("<VOID>");
    expect(jsgfAccepts(none, "what time is it")).toBe(true);
    expect(jsgfAccepts(none, "turn on the fan")).toBe(false);
  });

  test("free text is heard only as its listed phrases; a free slot without them is typed only", () => {
    const words = { ...DEFAULT_SPEECH_WORDS, items: ["socks"], places: ["box"], timerNames: [] };
    const g = toJsgf(builtinIntents(devices, words));
    expect(jsgfAccepts(g, "where are my socks")).toBe(true);
    expect(jsgfAccepts(g, "remember the socks are in the box")).toBe(true);
    expect(jsgfAccepts(g, "where are my keys")).toBe(false);
    // No timer names: the named templates are typed only, the rest of the timer intents are heard.
    expect(jsgfAccepts(g, "set a timer for ten minutes called pasta")).toBe(false);
    expect(jsgfAccepts(g, "set a timer for ten minutes")).toBe(true);
    expect(jsgfAccepts(g, "cancel the timer")).toBe(true);
    const note = defineIntent({
      name: "note",
      templates: ["note {text}", "what time is it"],
      slots: { text: { kind: "free" } },
    });
    const n = toJsgf([note]);
    expect(n).toContain("<note> = what time is it;");
    expect(matchIntent("note buy oat milk", [note])?.slots).toEqual({ text: "buy oat milk" });
  });

  test("typed facts may be any words, spoken ones only the listed shape", () => {
    const typed = "remember that the bike with the flat tyre is in the shed";
    expect(matchIntent(typed, intents)?.slots).toEqual({
      fact: "the bike with the flat tyre is in the shed",
    });
    expect(hears(typed)).toBe(false);
  });

  test("a word that is not a plain JSGF token is quoted and still read back", () => {
    const odd = defineIntent({
      name: "odd",
      templates: ["turn on {d}"],
      slots: { d: { kind: "list", entries: [{ phrase: ["lamp", "1.5"], value: "x" }] } },
    });
    const g = toJsgf([odd]);
    expect(g).toContain('lamp "1.5"');
    expect(jsgfAccepts(g, ["turn", "on", "lamp", "1.5"])).toBe(true);
  });
});

describe("the JSGF reader", () => {
  const g = `#JSGF V1.0;
    grammar t; // comment
    /* block */ public <a> = hello (there | <b>+) [now] {tag};
    <b> = world | /2/ moon;`;

  test("accepts derivations with repeats, alternatives, optionals, tags and weights", () => {
    expect(jsgfAccepts(g, "hello there")).toBe(true);
    expect(jsgfAccepts(g, "hello world moon world now")).toBe(true);
    expect(jsgfAccepts(g, "hello now")).toBe(false);
    expect(grammarWords(g)).toEqual(["hello", "moon", "now", "there", "world"]);
  });

  test("refuses broken grammars", () => {
    expect(() => parseJsgf("grammar t; public <a> = x;")).toThrow("header");
    expect(() => parseJsgf("#JSGF V1.0; grammar t; public <a> = (x;")).toThrow('unclosed "("');
    expect(() => parseJsgf("#JSGF V1.0; grammar t; public <a> = <b>;")).toThrow("not defined");
    expect(() => parseJsgf("#JSGF V1.0; grammar t; <a> = x; <a> = y;")).toThrow("twice");
  });
});

// The real recogniser, where it is installed (the hub image has it): the grammar must load, keep
// its states (a <VOID> anywhere empties the whole FSG) and use only words of the dictionary.
const MODEL = "/usr/share/pocketsphinx/model/en-us";
const pocketsphinx = Bun.which("pocketsphinx_continuous");
describe.skipIf(!pocketsphinx || !existsSync(MODEL))("pocketsphinx with the generated grammar", () => {
  test("every grammar word is in the CMU dictionary", () => {
    const dict = new Set(
      readFileSync(join(MODEL, "cmudict-en-us.dict"), "utf8")
        .split("\n")
        .map((l) => l.split(" ")[0]),
    );
    const words = grammarWords(toJsgf(intents));
    expect(words.filter((w) => !dict.has(w))).toEqual([]);
  });

  test("loads the grammar and builds a full search graph from it", () => {
    const dir = mkdtempSync(join(tmpdir(), "kiana-jsgf-"));
    try {
      writeFileSync(join(dir, "kiana.gram"), jsgf);
      // One second of silence: enough to make it load the grammar and decode.
      const wav = new Uint8Array(44 + 32000);
      const v = new DataView(wav.buffer);
      new TextEncoder().encodeInto("RIFF\0\0\0\0WAVEfmt ", wav);
      v.setUint32(4, 36 + 32000, true);
      v.setUint32(16, 16, true);
      v.setUint16(20, 1, true);
      v.setUint16(22, 1, true);
      v.setUint32(24, 16000, true);
      v.setUint32(28, 32000, true);
      v.setUint16(32, 2, true);
      v.setUint16(34, 16, true);
      new TextEncoder().encodeInto("data", wav.subarray(36));
      v.setUint32(40, 32000, true);
      writeFileSync(join(dir, "silence.wav"), wav);
      const run = Bun.spawnSync([
        pocketsphinx as string,
        ...["-hmm", join(MODEL, "en-us"), "-dict", join(MODEL, "cmudict-en-us.dict")],
        ...["-jsgf", join(dir, "kiana.gram"), "-infile", join(dir, "silence.wav")],
      ]);
      const log = run.stderr.toString();
      expect(log).not.toContain("ERROR");
      expect(run.exitCode).toBe(0);
      const transitions = Number(log.match(/Added (\d+) silence word transitions/)?.[1] ?? 0);
      expect(transitions).toBeGreaterThan(100);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
