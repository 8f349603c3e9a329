// arecord/aplay adapters against fake binaries: small shell scripts that write or swallow raw PCM,
// so the byte handling, mute flag and failure reporting are tested without a sound card.
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAlsaMicrophone, createAlsaSpeaker } from "./alsa.ts";
import { createMuteFlag } from "./ports.ts";

const dir = mkdtempSync(join(tmpdir(), "kiana-alsa-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function script(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

/** Raw s16le ramp 0,1,2,... so splits and reassembly are visible in the values. */
function rampFile(samples: number): string {
  const pcm = new Int16Array(samples);
  for (let i = 0; i < samples; i++) pcm[i] = i;
  const path = join(dir, `ramp-${samples}.raw`);
  writeFileSync(path, new Uint8Array(pcm.buffer));
  return path;
}

describe("alsa microphone", () => {
  test("yields whole chunks from arecord's stdout, in order, with arecord's arguments", async () => {
    const ramp = rampFile(1000);
    const args = join(dir, "arecord-args");
    // dd with a small block size makes the pipe deliver odd-sized pieces, splitting samples.
    const bin = script("arecord-ok", `echo "$@" > ${args}\ndd if=${ramp} bs=333 status=none`);
    const mic = createAlsaMicrophone({ device: "plughw:1,0", chunkSamples: 160, binary: bin });
    const got: number[] = [];
    for await (const chunk of mic) {
      expect(chunk.length).toBe(160);
      got.push(...chunk);
    }
    expect(await mic.ended).toEqual({ reason: "ended" });
    // 1000 samples make 6 whole chunks; the 40-sample remainder is not a chunk.
    expect(got).toEqual(Array.from({ length: 960 }, (_, i) => i));
    expect(readFileSync(args, "utf8").trim()).toBe("-q -t raw -f S16_LE -r 16000 -c 1 -D plughw:1,0");
  });

  test("muted chunks hold silence, by the user's mute or the speaker's flag", async () => {
    const bin = script("arecord-tone", `dd if=${rampFile(640)} bs=640 status=none`);
    const flag = createMuteFlag();
    const mic = createAlsaMicrophone({ device: "default", chunkSamples: 160, binary: bin, muteFlag: flag });
    const levels: number[] = [];
    let n = 0;
    let release = () => {};
    for await (const chunk of mic) {
      levels.push(chunk.reduce((a, b) => a + Math.abs(b), 0));
      n++;
      if (n === 1) release = flag.hold();
      if (n === 2) release();
      if (n === 3) mic.mute(true);
    }
    expect(levels[0]).toBeGreaterThan(0);
    expect(levels[1]).toBe(0);
    expect(levels[2]).toBeGreaterThan(0);
    expect(levels[3]).toBe(0);
  });

  test("a device that cannot be opened ends the stream with arecord's own message", async () => {
    const bin = script(
      "arecord-bad",
      `echo "arecord: main:850: audio open error: No such file or directory" >&2\nexit 1`,
    );
    const mic = createAlsaMicrophone({ device: "hw:9", binary: bin });
    const chunks: Int16Array[] = [];
    for await (const chunk of mic) chunks.push(chunk);
    expect(chunks).toHaveLength(0);
    const end = await mic.ended;
    expect(end.reason).toBe("failed");
    expect(end.reason === "failed" && end.detail).toContain("audio open error");
  });

  test("close stops a running arecord and ends iteration as closed", async () => {
    const bin = script("arecord-forever", "exec cat /dev/zero");
    const mic = createAlsaMicrophone({ device: "default", binary: bin });
    let n = 0;
    for await (const _ of mic) if (++n === 5) mic.close();
    expect(n).toBeGreaterThanOrEqual(5);
    expect(await mic.ended).toEqual({ reason: "closed" });
  });
});

describe("alsa speaker", () => {
  test("consecutive plays stream into one aplay; the mute flag is raised until the tail ends", async () => {
    const out = join(dir, "played.raw");
    const runs = join(dir, "aplay-runs");
    const bin = script("aplay-ok", `echo "$@" >> ${runs}\ncat > ${out}`);
    const flag = createMuteFlag();
    const speaker = createAlsaSpeaker({ device: "default", binary: bin, muteFlag: flag, tailMs: 50 });
    const a = new Int16Array(1600).fill(1000); // 100 ms at 16 kHz
    const b = new Int16Array(1600).fill(-1000);
    const started = performance.now();
    const [ra, rb] = await Promise.all([speaker.play(a), speaker.play(b)]);
    expect(ra).toEqual({ ok: true });
    expect(rb).toEqual({ ok: true });
    // Resolves when the audio should have played, not as soon as the bytes are in the pipe.
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    expect(flag.muted).toBe(true);
    await Bun.sleep(800);
    expect(flag.muted).toBe(false);
    const played = new Int16Array(new Uint8Array(readFileSync(out)).buffer);
    expect(played.length).toBe(3200);
    expect(played[0]).toBe(1000);
    expect(played[3199]).toBe(-1000);
    expect(readFileSync(runs, "utf8").trim().split("\n")).toEqual([
      "-q -t raw -f S16_LE -r 16000 -c 1 -D default",
    ]);
  });

  test("a change of format starts a new aplay with the new rate and channels", async () => {
    const runs = join(dir, "aplay-format-runs");
    const bin = script("aplay-format", `echo "$@" >> ${runs}\ncat > /dev/null`);
    const speaker = createAlsaSpeaker({ device: "default", binary: bin, tailMs: 0, idleCloseMs: 10 });
    expect(await speaker.play(new Int16Array(160))).toEqual({ ok: true });
    expect(await speaker.play(new Int16Array(441), { sampleRate: 22050, channels: 1 })).toEqual({ ok: true });
    await Bun.sleep(100);
    const lines = readFileSync(runs, "utf8").trim().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[1]).toContain("-r 22050 -c 1");
  });

  test("stop cuts the sound and resolves what was queued as not played", async () => {
    const bin = script("aplay-slow", "cat > /dev/null");
    const speaker = createAlsaSpeaker({ device: "default", binary: bin, tailMs: 0 });
    const long = speaker.play(new Int16Array(16000 * 5));
    await Bun.sleep(100);
    speaker.stop();
    expect(await long).toEqual({ ok: false, reason: "stopped" });
  });

  test("a failing aplay reports its stderr as the outcome", async () => {
    const bin = script(
      "aplay-bad",
      `echo "aplay: main:831: audio open error: Device or resource busy" >&2\nexit 1`,
    );
    const speaker = createAlsaSpeaker({ device: "hw:0", binary: bin, tailMs: 0 });
    const outcome = await speaker.play(new Int16Array(16000 * 2));
    expect(outcome.ok).toBe(false);
    expect(!outcome.ok && outcome.reason).toContain("Device or resource busy");
  });
});
