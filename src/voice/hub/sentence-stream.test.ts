import { expect, test } from "bun:test";
import { createSentenceStream, takeSentences } from "./sentence-stream.ts";

test("a sentence is complete only once the whitespace after its terminator arrived", () => {
  expect(takeSentences("It costs 3.")).toEqual({ ready: [], rest: "It costs 3." });
  expect(takeSentences("It costs 3.5 euros. Then")).toEqual({ ready: ["It costs 3.5 euros."], rest: "Then" });
  expect(takeSentences("One!\nTwo? ")).toEqual({ ready: ["One!", "Two?"], rest: "" });
});

test("pieces come out as sentences in order; the rest is spoken at the end, or replaced when abandoned", async () => {
  const s = createSentenceStream();
  for (const piece of ["Hel", "lo there.", " How", " are you? Fine"]) s.push(piece);
  s.end();
  const out: string[] = [];
  for await (const sentence of s) out.push(sentence);
  expect(out).toEqual(["Hello there.", "How are you?", "Fine"]);

  const f = createSentenceStream();
  f.push("Done. Half a");
  f.abandon("Sorry.");
  f.push("ignored.");
  expect(f.said).toEqual(["Done.", "Sorry."]);
});
