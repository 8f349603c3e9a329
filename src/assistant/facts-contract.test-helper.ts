// The contract every FactsPort passes: run it from each implementation's test with a factory that
// makes an empty one (and, optionally, a way to close it).
import { afterEach, expect, test } from "bun:test";
import type { FactsPort } from "./facts.ts";
import { recallWords } from "./facts.ts";

type Factory = () => { facts: FactsPort; close?: () => void };

export function factsContract(name: string, make: Factory): void {
  let close: (() => void) | undefined;
  const open = () => {
    const made = make();
    close = made.close;
    return made.facts;
  };
  afterEach(() => close?.());

  test(`${name}: a remembered fact is recalled by the words of a question about it`, async () => {
    const facts = open();
    await facts.remember("my keys are in the drawer");
    await facts.remember("the passport is in the desk");
    expect(await facts.recall(recallWords("my keys"))).toEqual(["my keys are in the drawer"]);
    expect(await facts.recall(["PASSPORT"])).toEqual(["the passport is in the desk"]);
  });

  test(`${name}: every word must occur, as a whole word, and newer facts come first`, async () => {
    const facts = open();
    await facts.remember("my keys are in the drawer");
    await facts.remember("my keys are on the hall table");
    expect(await facts.recall(["keys"])).toEqual([
      "my keys are on the hall table",
      "my keys are in the drawer",
    ]);
    expect(await facts.recall(["keys", "drawer"])).toEqual(["my keys are in the drawer"]);
    expect(await facts.recall(["key"])).toEqual([]);
    expect(await facts.recall(["wallet"])).toEqual([]);
    expect(await facts.recall([])).toEqual([]);
  });

  test(`${name}: words that look like query syntax are plain words`, async () => {
    const facts = open();
    await facts.remember("the charger is near the sofa");
    expect(await facts.recall(["charger", "OR", "sofa"])).toEqual([]);
    expect(await facts.recall(["NEAR"])).toEqual(["the charger is near the sofa"]);
    expect(await facts.recall(['"', "*"])).toEqual([]);
  });

  test(`${name}: at most a handful of facts come back`, async () => {
    const facts = open();
    for (let i = 0; i < 12; i++) await facts.remember(`box ${i} is in the shed`);
    const hits = await facts.recall(["box"]);
    expect(hits.length).toBe(5);
    expect(hits[0]).toBe("box 11 is in the shed");
  });
}
