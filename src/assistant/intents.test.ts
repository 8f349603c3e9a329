import { describe, expect, test } from "bun:test";
import { isKianaError } from "../errors.ts";
import { builtinIntents, INTENT } from "./builtin-intents.ts";
import { normalizeText } from "./entities.ts";
import { defineIntent, matchIntent, parseTemplate } from "./intents.ts";

const devices = [
  { name: "kitchen light", aliases: ["kitchen lamp"], id: "kitchen-light" },
  { name: "Fan", id: "fan", node: "bedroom-pi" },
];
const intents = builtinIntents(devices);

describe("the matcher over the built-in intents", () => {
  const table: [string, string | null, Record<string, string | number>][] = [
    ["What time is it?", INTENT.time, {}],
    ["what's the time", INTENT.time, {}],
    ["What is the time now?", INTENT.time, {}],
    ["please tell me the time", INTENT.time, {}],
    ["What is the date?", INTENT.date, {}],
    ["What day is it today?", INTENT.date, {}],
    ["What is today\u2019s date?", INTENT.date, {}],
    ["what's the date today", INTENT.date, {}],
    ["Set a timer for five minutes.", INTENT.timerStart, { amount: 5, unit: "minute" }],
    ["set a timer for 5 minutes", INTENT.timerStart, { amount: 5, unit: "minute" }],
    ["Set a timer for a minute", INTENT.timerStart, { amount: 1, unit: "minute" }],
    ["set a timer for an hour", INTENT.timerStart, { amount: 1, unit: "hour" }],
    ["Set a two minute timer", INTENT.timerStart, { amount: 2, unit: "minute" }],
    ["set a twenty five second timer", INTENT.timerStart, { amount: 25, unit: "second" }],
    ["set a timer for one and a half minutes", INTENT.timerStart, { amount: 1.5, unit: "minute" }],
    ["set a timer for 1.5 minutes", INTENT.timerStart, { amount: 1.5, unit: "minute" }],
    [
      "Set a timer for ten minutes called pasta",
      INTENT.timerStart,
      { amount: 10, unit: "minute", name: "pasta" },
    ],
    ["set a pasta timer for 8 minutes", INTENT.timerStart, { amount: 8, unit: "minute", name: "pasta" }],
    ["please start a timer for ninety nine seconds", INTENT.timerStart, { amount: 99, unit: "second" }],
    ["Cancel the timer", INTENT.timerCancel, {}],
    ["stop the timer!", INTENT.timerCancel, {}],
    ["cancel the pasta timer", INTENT.timerCancel, { name: "pasta" }],
    ["stop all timers", INTENT.timerCancel, {}],
    ["How much time is left?", INTENT.timerRemaining, {}],
    ["how long is left on the timer", INTENT.timerRemaining, {}],
    ["How much time is left on the pasta timer?", INTENT.timerRemaining, { name: "pasta" }],
    ["Remember that my keys are in the drawer.", INTENT.remember, { fact: "my keys are in the drawer" }],
    ["remember the spare key is under the mat", INTENT.remember, { fact: "the spare key is under the mat" }],
    ["Where are my keys?", INTENT.recall, { topic: "my keys" }],
    ["Where's my passport?", INTENT.recall, { topic: "my passport" }],
    ["What do you know about my keys?", INTENT.recall, { topic: "my keys" }],
    ["where did I leave the charger", INTENT.recall, { topic: "the charger" }],
    ["Turn on the kitchen light", INTENT.deviceSet, { state: "on", device: "kitchen-light" }],
    ["Switch off the kitchen light.", INTENT.deviceSet, { state: "off", device: "kitchen-light" }],
    ["turn the kitchen lamp off", INTENT.deviceSet, { state: "off", device: "kitchen-light" }],
    ["please switch the fan on", INTENT.deviceSet, { state: "on", device: "fan" }],
    // Near misses belong to the language model, not to a guess.
    ["what time is it in Tokyo", null, {}],
    ["set a timer", null, {}],
    ["set a timer for zero point five minutes", null, {}],
    ["set a timer for five", null, {}],
    ["turn on the garage light", null, {}],
    ["turn on", null, {}],
    ["remember", null, {}],
    ["please remember", null, {}],
    ["remember that a b c d e f g h i j k", null, {}],
    ["tell me a joke", null, {}],
    ["", null, {}],
  ];
  for (const [sentence, intent, slots] of table) {
    test(`${JSON.stringify(sentence)} → ${intent}`, () => {
      const m = matchIntent(sentence, intents);
      expect(m?.intent.name ?? null).toBe(intent);
      if (m) expect(m.slots).toEqual(slots);
    });
  }

  test("every built-in example matches its own intent", () => {
    const examples = intents.flatMap((i) => (i.examples ?? []).map((e) => [e, i.name] as const));
    expect(examples.length).toBeGreaterThan(25);
    for (const [e, name] of examples) expect([e, matchIntent(e, intents)?.intent.name]).toEqual([e, name]);
  });

  test("without devices nothing is switched", () => {
    expect(matchIntent("turn on the kitchen light", builtinIntents())).toBeUndefined();
  });

  test("already normalised words are matched as given; very long input is not a command", () => {
    expect(matchIntent(normalizeText("What's the time"), intents)?.intent.name).toBe(INTENT.time);
    expect(matchIntent(`remember that ${"my keys ".repeat(40)}`, intents)).toBeUndefined();
  });
});

describe("templates", () => {
  test("nested optionals and alternatives parse into a tree", () => {
    expect(parseTemplate("(set | start) a [{n}] timer")).toEqual({
      kind: "seq",
      items: [
        {
          kind: "alt",
          options: [
            { kind: "word", word: "set" },
            { kind: "word", word: "start" },
          ],
        },
        { kind: "word", word: "a" },
        { kind: "opt", item: { kind: "slot", name: "n" } },
        { kind: "word", word: "timer" },
      ],
    });
  });

  test("malformed templates are refused with the reason", () => {
    for (const [bad, why] of [
      ["set (a timer", 'missing ")"'],
      ["set a timer]", 'unexpected "]"'],
      ["set ( | a)", "empty alternative"],
      ["What time", "not a normalised word"],
      ["what's up", "not a normalised word"],
      ["a {Bad}", "bad slot name"],
    ] as const) {
      let err: unknown;
      try {
        parseTemplate(bad);
      } catch (e) {
        err = e;
      }
      expect(isKianaError(err, "CONFIG_INVALID")).toBe(true);
      expect(String((err as Error).message)).toContain(why);
    }
  });

  test("an intent must type every slot it uses and use every slot it types", () => {
    expect(() => defineIntent({ name: "x", templates: ["say {word}"] })).toThrow("has no type");
    expect(() =>
      defineIntent({ name: "x", templates: ["say hi"], slots: { word: { kind: "free" } } }),
    ).toThrow("never used");
    expect(() => defineIntent({ name: "x", templates: [] })).toThrow("no templates");
  });

  test("a free slot's spoken phrases are plain words that its typed bound can match", () => {
    const spoken = (template: string, maxWords?: number) => () =>
      defineIntent({
        name: "x",
        templates: ["find {thing}"],
        slots: { thing: { kind: "free", maxWords, spoken: parseTemplate(template) } },
      });
    expect(spoken("(my | the) (keys | car keys)", 3)).not.toThrow();
    expect(spoken("my {other}")).toThrow("cannot contain slots");
    expect(spoken("the big red car keys", 3)).toThrow("longer than 3 words");
  });

  test("a custom intent with a bounded free slot", () => {
    const shout = defineIntent({
      name: "shout",
      templates: ["shout {word}"],
      slots: { word: { kind: "free", maxWords: 2 } },
    });
    expect(matchIntent("shout hello there", [shout])?.slots).toEqual({ word: "hello there" });
    expect(matchIntent("shout hello there friend", [shout])).toBeUndefined();
  });
});
