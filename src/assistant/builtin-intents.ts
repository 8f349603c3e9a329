// The intents every kiana hub understands without a language model: time, date, timers, facts to
// remember and recall, and switching the configured devices. Order matters: the first match wins.
import {
  DEFAULT_SPEECH_WORDS,
  type DeviceEntity,
  deviceSlot,
  FREE_MAX_WORDS,
  normalizeText,
  ON_OFF_SLOT,
  type SlotType,
  type SpeechWords,
  UNIT_SLOT,
} from "./entities.ts";
import { defineIntent, type Intent, longestPhrase, parseTemplate } from "./intents.ts";

export const INTENT = {
  time: "time",
  date: "date",
  timerStart: "timer.start",
  timerCancel: "timer.cancel",
  timerRemaining: "timer.remaining",
  remember: "remember",
  recall: "recall",
  deviceSet: "device.set",
} as const;

const NUMBER: SlotType = { kind: "number" };

/** "(keys | car keys)" from configured phrases, normalised; undefined when there are none. */
function choice(phrases: readonly string[]): string | undefined {
  const unique = [...new Set(phrases.map((p) => normalizeText(p).join(" ")).filter(Boolean))];
  return unique.length > 0 ? `(${unique.join(" | ")})` : undefined;
}

/** Free when typed, `spoken` (a template without slots) when heard; never shorter than `maxWords`. */
function freeSlot(spoken: string | undefined, maxWords = FREE_MAX_WORDS): SlotType {
  if (spoken === undefined) return { kind: "free", maxWords };
  const tree = parseTemplate(spoken);
  return { kind: "free", maxWords: Math.max(maxWords, longestPhrase(tree)), spoken: tree };
}

/** The spoken forms of facts ("my keys are in the top drawer") and what they are about ("my keys"). */
function factSlots(w: SpeechWords): { fact: SlotType; topic: SlotType } {
  const [owner, item, relation, place] = [w.owners, w.items, w.relations, w.places].map(choice);
  const qualifier = choice(w.qualifiers);
  const thing = owner && item ? `${owner} ${item}` : undefined;
  const where =
    relation && place ? `${relation} the ${qualifier ? `[${qualifier}] ` : ""}${place}` : undefined;
  return {
    fact: freeSlot(thing && where ? `${thing} (is | are) ${where}` : undefined),
    topic: freeSlot(thing),
  };
}

/**
 * The built-in intents with the device slot filled from `devices` (none: no device intent matches)
 * and the spoken forms of facts and timer names from `words`.
 */
export function builtinIntents(
  devices: readonly DeviceEntity[] = [],
  words: SpeechWords = DEFAULT_SPEECH_WORDS,
): Intent[] {
  // Timer names are short ("pasta", "the eggs"); facts and topics get the default bound.
  const timerName = freeSlot(choice(words.timerNames), 3);
  const { fact, topic } = factSlots(words);
  return [
    defineIntent({
      name: INTENT.time,
      templates: [
        "[please] what time is it [now]",
        "what is the [current] time [now]",
        "[please] tell me the time",
      ],
      examples: ["What time is it?", "What's the time?", "what is the time now", "Tell me the time"],
    }),
    defineIntent({
      name: INTENT.date,
      templates: [
        "what is (the date [today] | today date | the day today)",
        "what day is (it | today) [today]",
        "[please] tell me the date",
      ],
      examples: ["What is the date?", "What day is it?", "What is today's date?", "what's the date today"],
    }),
    defineIntent({
      name: INTENT.timerStart,
      templates: [
        "[please] (set | start) a timer for {amount} {unit} [called {name}]",
        "[please] (set | start) a {amount} {unit} timer [called {name}]",
        "[please] (set | start) a {name} timer for {amount} {unit}",
      ],
      slots: { amount: NUMBER, unit: UNIT_SLOT, name: timerName },
      examples: [
        "Set a timer for five minutes",
        "set a two minute timer",
        "Set a timer for ten minutes called pasta",
        "set a timer for one and a half minutes",
        "start a timer for an hour",
        "set a pasta timer for twenty five minutes",
      ],
    }),
    defineIntent({
      name: INTENT.timerCancel,
      templates: [
        "[please] (cancel | stop) the [{name}] timer",
        "[please] (cancel | stop) [all] [the] timers",
      ],
      slots: { name: timerName },
      examples: ["Cancel the timer", "stop the timer", "cancel the pasta timer", "stop all timers"],
    }),
    defineIntent({
      name: INTENT.timerRemaining,
      templates: [
        "how (much time | long) is left [on the [{name}] timer]",
        "how much (longer | time) on the [{name}] timer",
      ],
      slots: { name: timerName },
      examples: [
        "How much time is left?",
        "How long is left on the timer?",
        "how much time is left on the pasta timer",
      ],
    }),
    defineIntent({
      name: INTENT.remember,
      templates: ["[please] remember [that] {fact}"],
      slots: { fact },
      examples: ["Remember that my keys are in the drawer", "please remember the passport is in the desk"],
    }),
    defineIntent({
      name: INTENT.recall,
      templates: [
        "where (is | are) {topic}",
        "where did i (put | leave) {topic}",
        "what do you know about {topic}",
      ],
      slots: { topic },
      examples: ["Where are my keys?", "What do you know about my keys?", "where did I put the charger"],
    }),
    defineIntent({
      name: INTENT.deviceSet,
      templates: [
        "[please] (turn | switch) {state} [the] {device}",
        "[please] (turn | switch) [the] {device} {state}",
      ],
      slots: { state: ON_OFF_SLOT, device: deviceSlot(devices) },
      examples: devices.length > 0 ? deviceExamples(devices[0] as DeviceEntity) : [],
    }),
  ];
}

function deviceExamples(d: DeviceEntity): string[] {
  const alias = d.aliases?.[0] ?? d.name;
  return [
    `Turn on the ${d.name}`,
    `switch off the ${d.name}`,
    `turn the ${alias} off`,
    `please switch ${d.name} on`,
  ];
}
