import { describe, expect, test } from "bun:test";
import { checkJsgfWords, grammarDictionary, parsePronunciationDict } from "./jsgf.ts";

const dict = parsePronunciationDict("what W AH T\nwhat(2) HH W AH T\ntime T AY M\nis IH Z\nit IH T\n");
const ok = "#JSGF V1.0;\ngrammar t;\n/* c */ public <c> = what time is it | <x>; // end\n<x> = [what] it+;\n";

describe("jsgf", () => {
  test("lists words once and keeps variants in the small dictionary", () => {
    const r = checkJsgfWords(ok, dict);
    if (!r.ok) throw new Error(r.reason);
    expect(r.words).toEqual(["is", "it", "time", "what"]);
    expect(grammarDictionary(r.words, dict)).toContain("what(2) HH W AH T");
  });

  test("names the words the dictionary lacks, with a hint for upper case", () => {
    const r = checkJsgfWords("#JSGF V1.0;\ngrammar t;\npublic <c> = What zorblax;\n", dict);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.missing).toEqual(["What", "zorblax"]);
    expect(r.reason).toContain("lower case: What");
  });

  test.each([
    ["grammar t;\npublic <c> = it;", "#JSGF"],
    ["#JSGF V1.0;\ngrammar t;\n<c> = it;", "no public rule"],
    ["#JSGF V1.0;\ngrammar t;\npublic <c> = (it | is;", 'unclosed "("'],
    ["#JSGF V1.0;\ngrammar t;\npublic <c> = it | | is;", "empty alternative"],
    ["#JSGF V1.0;\ngrammar t;\npublic <c> = <nope>;", "rule <nope> is used but not defined"],
    ["#JSGF V1.0;\ngrammar t;\npublic <c> = it", 'does not end with ";"'],
  ])("refuses %j", (text, reason) => {
    const r = checkJsgfWords(text, dict);
    expect(r.ok ? "" : r.reason).toContain(reason);
  });
});
