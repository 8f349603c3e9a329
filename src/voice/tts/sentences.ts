// Splits text for speech synthesis so the first sentence is spoken while the rest is synthesised.

/** Sentences in order, trimmed; breaks after . ! ? … followed by space, and at blank-ish line ends. */
export function splitSentences(text: string, maxSentences = 200): string[] {
  const out = text
    .split(/(?<=[.!?…])\s+|\n+/u)
    .map((s) => s.replace(/\s+/g, " ").trim())
    .filter((s) => /[\p{L}\p{N}]/u.test(s));
  // A bound on processes per request; whatever is left is spoken as one last piece.
  if (out.length > maxSentences)
    out.splice(maxSentences - 1, Infinity, out.slice(maxSentences - 1).join(" "));
  return out;
}
