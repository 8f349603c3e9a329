import { expect, test } from "bun:test";
import { createManualClock } from "../../platform/clock.ts";
import { createFileMicrophone } from "./file-microphone.ts";
import { createMuteFlag } from "./ports.ts";
import { encodeWav } from "./wav.ts";

const ones = (n: number) =>
  encodeWav({ sampleRate: 16_000, channels: 1, samples: new Int16Array(n).fill(1000) });

test("whole chunks with padding, the last filled with silence; then 'ended'", async () => {
  const mic = createFileMicrophone({ source: ones(2000), chunkSamples: 1280, padStartMs: 80 });
  const chunks: Int16Array[] = [];
  for await (const c of mic) chunks.push(c);
  // 1280 lead + 2000 speech = 3280 samples → 3 chunks.
  expect(chunks.map((c) => c.length)).toEqual([1280, 1280, 1280]);
  expect(chunks[0]?.every((v) => v === 0)).toBe(true);
  expect(chunks[1]?.every((v) => v === 1000)).toBe(true);
  expect(chunks[2]?.slice(0, 720).every((v) => v === 1000)).toBe(true);
  expect(chunks[2]?.slice(720).every((v) => v === 0)).toBe(true);
  expect(await mic.ended).toEqual({ reason: "ended" });
});

test("real-time pacing follows the clock; close ends it early", async () => {
  const clock = createManualClock();
  const mic = createFileMicrophone({ source: ones(16_000), speed: 1, clock });
  const it = mic[Symbol.asyncIterator]();
  const first = it.next();
  let got = false;
  first.then(() => {
    got = true;
  });
  await Bun.sleep(5);
  expect(got).toBe(false);
  clock.advance(80);
  await first;
  expect(got).toBe(true);
  mic.close();
  expect((await it.next()).done).toBe(true);
  expect(await mic.ended).toEqual({ reason: "closed" });
});

test("while the speaker's flag is raised the chunks hold silence", async () => {
  const flag = createMuteFlag();
  const mic = createFileMicrophone({ source: ones(1280 * 3), muteFlag: flag });
  const seen: boolean[] = [];
  let release: (() => void) | undefined;
  for await (const c of mic) {
    seen.push(c.some((v) => v !== 0));
    if (release) {
      release();
      release = undefined;
    } else release = flag.hold();
  }
  expect(seen).toEqual([true, false, true]);
});

test("a file that is not a WAV ends the microphone as failed, naming why", async () => {
  const mic = createFileMicrophone({ source: new TextEncoder().encode("not audio at all") });
  for await (const _ of mic) throw new Error("no chunk expected");
  const end = await mic.ended;
  expect(end.reason).toBe("failed");
  expect(end.reason === "failed" && end.detail).toContain("RIFF");
});
