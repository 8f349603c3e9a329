import { describe, expect, test } from "bun:test";
import { isKianaError } from "../errors.ts";
import { createManualClock } from "../platform/clock.ts";
import { createAssistant } from "./assistant.ts";
import { createMemoryFacts } from "./facts.ts";
import { jsgfAccepts } from "./jsgf.ts";

// 2026-03-03 15:45:00 UTC, a Tuesday.
const T = Date.UTC(2026, 2, 3, 15, 45, 0);
const devices = [
  { name: "kitchen light", aliases: ["kitchen lamp"], id: "kitchen-light" },
  { name: "fan", id: "fan", node: "bedroom-pi" },
];

function setup(extra: Parameters<typeof createAssistant>[0] = {}) {
  const clock = createManualClock(T);
  const rang: string[] = [];
  const published: [string, string][] = [];
  const facts = createMemoryFacts();
  const assistant = createAssistant({
    clock,
    timeZone: "UTC",
    devices,
    fleet: "home",
    node: "hub",
    facts,
    publish: async (topic, payload) => void published.push([topic, payload]),
    onTimer: (e) => rang.push(e.announcement),
    ...extra,
  });
  const say = async (text: string) => (await assistant.handle(text)).reply;
  return { clock, rang, published, facts, assistant, say };
}

describe("time and date", () => {
  test("are read from the clock in the configured zone", async () => {
    const { say } = setup();
    expect(await say("What time is it?")).toBe("It is 3:45 PM.");
    expect(await say("what's the date today")).toBe("Today is Tuesday, March 3, 2026.");
    const tokyo = setup({ timeZone: "Asia/Tokyo" });
    expect(await tokyo.say("what is the time")).toBe("It is 12:45 AM.");
    expect(await tokyo.say("what day is it")).toBe("Today is Wednesday, March 4, 2026.");
  });
});

describe("timers", () => {
  test("a timer rings at its time, the remaining time counts down, and it says which timer", async () => {
    const { clock, rang, say, assistant } = setup();
    const r = await assistant.handle("set a timer for five minutes");
    expect(r).toMatchObject({ intent: "timer.start", slots: { amount: 5, unit: "minute" }, ok: true });
    expect(r.reply).toBe("Timer set for 5 minutes.");
    clock.advance(50_000);
    expect(await say("how much time is left")).toBe("There are 4 minutes and 10 seconds left.");
    clock.advance(180_000);
    expect(await say("how long is left on the timer")).toBe("There is 1 minute and 10 seconds left.");
    clock.advance(69_999);
    expect(rang).toEqual([]);
    clock.advance(1);
    expect(rang).toEqual(["Your 5 minute timer is done."]);
    expect(await say("how much time is left")).toBe("There is no timer running.");
  });

  test("named timers run side by side and are asked about and cancelled by name", async () => {
    const { clock, rang, say, assistant } = setup();
    expect(await say("set a timer for ten minutes called pasta")).toBe(
      "The pasta timer is set for 10 minutes.",
    );
    expect(await say("set a two minute timer")).toBe("Timer set for 2 minutes.");
    expect(await say("set a timer for one and a half minutes called eggs")).toBe(
      "The eggs timer is set for 1 minute and 30 seconds.",
    );
    clock.advance(30_000);
    expect(await say("how much time is left")).toBe(
      "The eggs timer has 1 minute left, your 2 minute timer has 1 minute and 30 seconds left, and the pasta timer has 9 minutes and 30 seconds left.",
    );
    expect(await say("how much time is left on the pasta timer")).toBe(
      "There are 9 minutes and 30 seconds left on the pasta timer.",
    );
    expect(await say("cancel the eggs timer")).toBe("The eggs timer is cancelled.");
    expect(await say("cancel the eggs timer")).toBe("There is no eggs timer.");
    clock.advance(90_000);
    expect(rang).toEqual(["Your 2 minute timer is done."]);
    expect(assistant.timers().map((t) => t.name)).toEqual(["pasta"]);
    expect(await say("stop the timer")).toBe("Timer cancelled.");
    clock.advance(3_600_000);
    expect(rang).toEqual(["Your 2 minute timer is done."]);
    expect(await say("cancel the timer")).toBe("There is no timer running.");
  });

  test("impossible durations are refused; close stops every timer", async () => {
    const { clock, rang, assistant, say } = setup();
    const zero = await assistant.handle("set a timer for zero minutes");
    expect(zero).toMatchObject({ intent: "timer.start", ok: false });
    expect(zero.reply).toBe("I can only set timers from 1 second to 24 hours.");
    expect(await say("set a timer for 90 hours")).toBe("I can only set timers from 1 second to 24 hours.");
    await say("set a timer for 3 seconds");
    await say("set a timer for 4 seconds");
    expect(await say("stop all timers")).toBe("All 2 timers cancelled.");
    await say("set a timer for 3 seconds");
    assistant.close();
    clock.advance(10_000);
    expect(rang).toEqual([]);
  });
});

describe("remember and recall", () => {
  test("a fact told is said back when asked about", async () => {
    const { say, facts } = setup();
    expect(await say("Where are my keys?")).toBe("I do not know anything about your keys.");
    expect(await say("Remember that my keys are in the drawer.")).toBe("Okay, I will remember that.");
    expect(facts.facts).toEqual(["my keys are in the drawer"]);
    expect(await say("Where are my keys?")).toBe("You told me: my keys are in the drawer.");
    expect(await say("what do you know about my keys")).toBe("You told me: my keys are in the drawer.");
    await say("remember my keys are on the hall table");
    const r = await setup({ facts }).assistant.handle("where are my keys");
    expect(r.reply).toBe("You told me: my keys are on the hall table.");
    expect(r.facts).toEqual(["my keys are on the hall table", "my keys are in the drawer"]);
  });

  test("without a facts port, or when it fails, the speaker is told", async () => {
    const none = setup({ facts: undefined });
    expect(await none.say("remember that the bike is in the shed")).toBe(
      "I cannot remember things on this device.",
    );
    const broken = setup({
      facts: { remember: () => Promise.reject(new Error("disk full")), recall: async () => [] },
    });
    const r = await broken.assistant.handle("remember that the bike is in the shed");
    expect(r).toMatchObject({
      intent: "remember",
      ok: false,
      reply: "Sorry, something went wrong.",
      error: "disk full",
    });
  });
});

describe("device control", () => {
  test("publishes a set command under the owning node, or the hub's", async () => {
    const { published, say } = setup();
    expect(await say("Turn on the kitchen light")).toBe("Okay, turning on the kitchen light.");
    expect(await say("turn the kitchen lamp off")).toBe("Okay, turning off the kitchen light.");
    expect(await say("switch on the fan")).toBe("Okay, turning on the fan.");
    expect(published).toEqual([
      ["kiana/v1/home/hub/device/kitchen-light/set", '{"state":"on"}'],
      ["kiana/v1/home/hub/device/kitchen-light/set", '{"state":"off"}'],
      ["kiana/v1/home/bedroom-pi/device/fan/set", '{"state":"on"}'],
    ]);
  });

  test("a failed publish and a missing publisher are spoken, not thrown", async () => {
    const failing = setup({ publish: () => Promise.reject(new Error("offline")) });
    const r = await failing.assistant.handle("turn off the fan");
    expect(r).toMatchObject({ ok: false, reply: "Sorry, I could not reach the fan.", error: "offline" });
    expect(await setup({ publish: undefined }).say("turn off the fan")).toBe(
      "I cannot switch devices from here.",
    );
  });

  test("device lists it could not act on safely are refused up front", () => {
    const bad = (extra: Parameters<typeof createAssistant>[0]) => {
      try {
        createAssistant(extra);
      } catch (err) {
        return isKianaError(err, "CONFIG_INVALID") ? err.message : `other: ${err}`;
      }
      return "accepted";
    };
    expect(bad({ devices: [{ name: "lamp", id: "a/b" }] })).toContain("the id must be");
    expect(bad({ devices: [{ name: "lamp", id: "a", node: "+" }] })).toContain("not a node name");
    expect(
      bad({
        devices: [
          { name: "lamp", id: "a" },
          { name: "light", id: "a" },
        ],
      }),
    ).toContain("used twice");
    expect(
      bad({
        devices: [
          { name: "lamp", id: "a" },
          { name: "Lamp!", id: "b" },
        ],
      }),
    ).toContain("also names device a");
    expect(bad({ devices: [{ name: "lamp", id: "a" }], publish: async () => {} })).toContain("fleet name");
    expect(bad({ devices: [{ name: "lamp", id: "a" }], publish: async () => {}, fleet: "home" })).toContain(
      "node name",
    );
    expect(bad({ devices: [{ name: "lamp", id: "a" }] })).toBe("accepted");
  });
});

describe("what no intent matches", () => {
  test("goes to the language model, whole or streamed, with the abort signal", async () => {
    const seen: [string, AbortSignal | undefined][] = [];
    const whole = setup({
      llm: async (text, signal) => {
        seen.push([text, signal]);
        return " Paris. ";
      },
    });
    const signal = new AbortController().signal;
    expect(await whole.assistant.handle("what is the capital of France", { signal })).toEqual({
      intent: null,
      slots: {},
      source: "llm",
      reply: "Paris.",
      ok: true,
    });
    expect(seen).toEqual([["what is the capital of France", signal]]);
    const chunks: string[] = [];
    const streamed = setup({
      llm: async function* () {
        yield "Why did the ";
        yield "chicken cross the road?";
      },
    });
    const r = await streamed.assistant.handle("tell me a joke", { onText: (c) => chunks.push(c) });
    expect(r.reply).toBe("Why did the chicken cross the road?");
    expect(chunks).toEqual(["Why did the ", "chicken cross the road?"]);
  });

  test("without a model, or when it fails, the speaker hears that", async () => {
    expect(await setup().assistant.handle("tell me a joke")).toEqual({
      intent: null,
      slots: {},
      source: "none",
      reply: "Sorry, I did not understand that.",
      ok: false,
    });
    const broken = setup({ llm: () => Promise.reject(new Error("model not loaded")) });
    expect(await broken.assistant.handle("tell me a joke")).toMatchObject({
      ok: false,
      reply: "Sorry, I could not come up with an answer.",
      error: "model not loaded",
    });
    expect((await setup({ llm: async () => "  " }).assistant.handle("hm")).reply).toBe(
      "I do not have an answer to that.",
    );
  });

  test("an abort is passed on to the caller, not spoken", async () => {
    const ctrl = new AbortController();
    const a = setup({
      llm: async function* () {
        yield "one";
        ctrl.abort(new Error("barge-in"));
        yield "two";
      },
    });
    await expect(a.assistant.handle("count", { signal: ctrl.signal })).rejects.toThrow("barge-in");
  });
});

test("empty and over-long input get a clear reply and reach nothing", async () => {
  let calls = 0;
  const { assistant } = setup({ llm: async () => String(++calls), maxInputChars: 100 });
  for (const text of ["", "   ", "?!", undefined as unknown as string])
    expect(await assistant.handle(text)).toMatchObject({
      source: "rejected",
      ok: false,
      reply: "Sorry, I did not hear anything.",
    });
  expect((await assistant.handle("a".repeat(101))).reply).toBe(
    "That is too long for me. Please say it in fewer words.",
  );
  expect(calls).toBe(0);
});

test("the assistant's grammar covers its own devices", () => {
  const g = setup().assistant.grammar();
  expect(jsgfAccepts(g, "turn on the kitchen lamp")).toBe(true);
  expect(jsgfAccepts(g, "switch the fan off")).toBe(true);
  expect(jsgfAccepts(g, "turn on the garage light")).toBe(false);
});

test("the things and places speech can name are configurable; typed facts stay free", async () => {
  const { say, assistant } = setup({ speechWords: { items: ["bike"], places: ["shed"] } });
  const g = assistant.grammar();
  expect(jsgfAccepts(g, "remember that my bike is in the shed")).toBe(true);
  expect(jsgfAccepts(g, "where is my bike")).toBe(true);
  expect(jsgfAccepts(g, "where are my keys")).toBe(false);
  expect(jsgfAccepts(g, "set a timer for ten minutes called pasta")).toBe(true);
  expect(await say("remember that the spare key is under the blue flowerpot")).toBe(
    "Okay, I will remember that.",
  );
  expect(await say("where is the spare key")).toBe("You told me: the spare key is under the blue flowerpot.");
});
