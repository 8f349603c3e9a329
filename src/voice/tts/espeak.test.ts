import { describe, expect, test } from "bun:test";
import { isSilent } from "../audio/pcm.ts";
import { bunSpawn } from "../stt/child.ts";
import { createEspeakTts, parseEspeakVoices, readWavHeader } from "./espeak.ts";
import { splitSentences } from "./sentences.ts";

async function collect(audio: AsyncIterable<Int16Array>): Promise<Int16Array[]> {
  const chunks: Int16Array[] = [];
  for await (const c of audio) chunks.push(c);
  return chunks;
}

describe("espeak-ng tts", () => {
  const tts = createEspeakTts();

  test("speaks audible 22.05 kHz audio and lists English voices", async () => {
    const audio = tts.synthesize("The kitchen light is on.");
    const chunks = await collect(audio);
    const samples = Int16Array.from(chunks.flatMap((c) => [...c]));
    expect(audio.sampleRate).toBe(22050);
    // About a second of speech, not silence.
    expect(samples.length).toBeGreaterThan(15000);
    expect(isSilent(samples, -30)).toBe(false);
    expect(tts.voices).toContain("en-us");
    expect(tts.voices).toContain("en-gb");
    expect(tts.voices.length).toBeLessThanOrEqual(64);
  });

  test("the first chunk arrives while espeak-ng is still running", async () => {
    // The process lingers a second after writing: audio that waited for the exit would come late.
    const slow = createEspeakTts({
      spawn: (argv, o) => bunSpawn(["sh", "-c", '"$@"; sleep 1', "sh", ...argv], o),
    });
    const t0 = performance.now();
    let first = 0;
    for await (const _ of slow.synthesize("One sentence that is long enough to fill a few pipe reads.")) {
      first ||= performance.now() - t0;
    }
    expect(first).toBeLessThan(700);
    expect(performance.now() - t0).toBeGreaterThan(1000);
  });

  test("abort stops a long text and kills the process", async () => {
    const ac = new AbortController();
    const long = Array.from({ length: 30 }, (_, i) => `This is sentence ${i} of a long answer.`).join(" ");
    let chunks = 0;
    const run = (async () => {
      for await (const _ of tts.synthesize(long, { signal: ac.signal })) {
        if (++chunks === 2) ac.abort();
      }
    })();
    await expect(run).rejects.toThrow();
    expect(chunks).toBeLessThan(5);
  });

  test("bad input is named", async () => {
    expect(() => tts.synthesize("  \n ")).toThrow("the text is empty");
    expect(() => createEspeakTts({ binary: "/nope/espeak-ng" })).toThrow(
      /install the Debian package espeak-ng/,
    );
    await expect(collect(tts.synthesize("hello", { voice: "xx-nope" }))).rejects.toThrow(
      /espeak-ng failed \(voice xx-nope\).*does not exist/,
    );
  });
});

describe("espeak-ng helpers", () => {
  test("streaming header with placeholder sizes, split reads", () => {
    const head = Uint8Array.from(
      Buffer.from(
        "5249464624f0ff7f57415645666d74201000000001000100225600004" + "4ac0000020010006461746100f0ff7f",
        "hex",
      ),
    );
    expect(readWavHeader(head.subarray(0, 30))).toBeNull();
    expect(readWavHeader(head)).toEqual({ sampleRate: 22050, channels: 1, dataOffset: 44 });
    expect(readWavHeader(new TextEncoder().encode("ID3 not a wav file"))).toBe("not a RIFF/WAVE stream");
  });

  test("voices and sentences", () => {
    const listing =
      "Pty Language Age/Gender VoiceName File Other\n 2  en-gb  --/M  English gmw/en  (en 2)\n 5  en-us  --/M  us-mbrola-2  mb/mb-us2  (en 7)\n";
    expect(parseEspeakVoices(listing)).toEqual(["en-gb"]);
    expect(splitSentences("Hi there. It is 5 p.m. now!  Ok?\n\nDone")).toEqual([
      "Hi there.",
      "It is 5 p.m.",
      "now!",
      "Ok?",
      "Done",
    ]);
    expect(splitSentences("a. b. c. d.", 2)).toEqual(["a.", "b. c. d."]);
  });
});
