// The sound card through alsa-utils: a Microphone over an `arecord` subprocess and a Speaker over
// `aplay`. Subprocesses rather than a native ALSA binding, so the runtime binary carries no addon.
import { type Clock, systemClock } from "../../platform/clock.ts";
import { VOICE_SAMPLE_RATE } from "./pcm.ts";
import {
  type MicEnd,
  type Microphone,
  type MuteFlag,
  type PlayOutcome,
  type Speaker,
  unlessMuted,
} from "./ports.ts";

/** The part of a Bun subprocess used here; tests pass a spawn that runs a fake script. */
export interface AudioProcess {
  readonly stdin: { write(bytes: Uint8Array): unknown; flush(): unknown; end(): unknown } | null;
  readonly stdout: ReadableStream<Uint8Array> | null;
  readonly stderr: ReadableStream<Uint8Array> | null;
  readonly exited: Promise<number>;
  kill(): void;
}
export type SpawnAudio = (cmd: string[], io: { stdin: boolean; stdout: boolean }) => AudioProcess;

export const spawnAudio: SpawnAudio = (cmd, io) =>
  Bun.spawn(cmd, {
    stdin: io.stdin ? "pipe" : "ignore",
    stdout: io.stdout ? "pipe" : "ignore",
    stderr: "pipe",
  }) as unknown as AudioProcess;

/** Keeps the first few KiB of stderr: arecord/aplay say in one line why a device failed. */
async function readStderr(stream: ReadableStream<Uint8Array> | null): Promise<string> {
  if (!stream) return "";
  let text = "";
  const decoder = new TextDecoder();
  try {
    for await (const part of stream) if (text.length < 4096) text += decoder.decode(part, { stream: true });
  } catch {
    // A killed process may cut its stream; what was read is enough.
  }
  return text.trim().slice(0, 4096);
}

export interface AlsaMicrophoneOptions {
  /** ALSA device, e.g. "default" or "plughw:CARD=Device,DEV=0". */
  device: string;
  /** Default 1280 (80 ms), the wake word pipeline's step. */
  chunkSamples?: number;
  /** The speaker's flag: chunks captured while it is raised hold silence. */
  muteFlag?: MuteFlag;
  spawn?: SpawnAudio;
  binary?: string;
}

export function createAlsaMicrophone(opts: AlsaMicrophoneOptions): Microphone {
  const chunkSamples = opts.chunkSamples ?? 1280;
  if (!Number.isInteger(chunkSamples) || chunkSamples < 1) throw new RangeError("chunkSamples must be ≥ 1");
  const spawn = opts.spawn ?? spawnAudio;
  let mutedByUser = false;
  let closed = false;
  let iterated = false;
  let proc: AudioProcess | null = null;
  let settle: (end: MicEnd) => void = () => {};
  const ended = new Promise<MicEnd>((resolve) => {
    settle = resolve;
  });
  const muted = () => mutedByUser || (opts.muteFlag?.muted ?? false);

  async function* chunks(): AsyncGenerator<Int16Array> {
    const cmd = [opts.binary ?? "arecord", "-q", "-t", "raw", "-f", "S16_LE"];
    cmd.push("-r", String(VOICE_SAMPLE_RATE), "-c", "1", "-D", opts.device);
    try {
      proc = spawn(cmd, { stdin: false, stdout: true });
    } catch (err) {
      settle({ reason: "failed", detail: `cannot start ${cmd[0]}: ${String(err)}` });
      return;
    }
    const stderr = readStderr(proc.stderr);
    const chunkBytes = chunkSamples * 2;
    // Pipe reads split anywhere, even mid-sample: bytes are gathered until a whole chunk is there.
    let pending = new Uint8Array(0);
    try {
      for await (const part of proc.stdout ?? []) {
        const joined = new Uint8Array(pending.length + part.length);
        joined.set(pending);
        joined.set(part, pending.length);
        let at = 0;
        for (; at + chunkBytes <= joined.length; at += chunkBytes) {
          if (closed) break;
          const chunk = new Int16Array(joined.buffer.slice(at, at + chunkBytes));
          yield unlessMuted(chunk, muted());
        }
        pending = joined.slice(at);
        if (closed) break;
      }
    } finally {
      if (closed) proc.kill();
    }
    const code = await proc.exited;
    if (closed) return settle({ reason: "closed" });
    if (code === 0) return settle({ reason: "ended" });
    const detail = (await stderr) || `${cmd[0]} exited with status ${code}`;
    settle({ reason: "failed", detail });
  }

  return {
    sampleRate: VOICE_SAMPLE_RATE,
    chunkSamples,
    [Symbol.asyncIterator]() {
      if (iterated) throw new Error("a microphone has one consumer");
      iterated = true;
      return chunks();
    },
    mute(on) {
      mutedByUser = on;
    },
    get muted() {
      return muted();
    },
    close() {
      if (closed) return;
      closed = true;
      // Killing arecord ends its stdout, which ends the consumer's loop.
      proc?.kill();
      if (!iterated) settle({ reason: "closed" });
    },
    ended,
  };
}

export interface AlsaSpeakerOptions {
  device: string;
  /** Raised from the first sample written until `tailMs` after aplay exits. */
  muteFlag?: MuteFlag;
  /** Room echo after the last sample, while the microphone should still hear nothing. Default 300. */
  tailMs?: number;
  /** aplay is kept open this long after the queue runs dry, so streamed answers play without gaps. Default 250. */
  idleCloseMs?: number;
  spawn?: SpawnAudio;
  binary?: string;
  clock?: Clock;
}

interface Stream {
  proc: AudioProcess;
  format: string;
  /** Monotonic ms when the audio written so far will have played. */
  playedUntil: number;
  waiting: Set<(outcome: PlayOutcome) => void>;
  failed: Promise<PlayOutcome>;
  release: () => void;
  cancelIdle: () => void;
  stopped: boolean;
}

/**
 * One aplay process per run of same-format audio: `play` calls that follow each other write into
 * the same pipe, so an answer streamed in pieces plays without a gap between pieces. A play
 * resolves when its samples should have played (by the byte count), or at once on stop/failure.
 */
export function createAlsaSpeaker(opts: AlsaSpeakerOptions): Speaker {
  const spawn = opts.spawn ?? spawnAudio;
  const clock = opts.clock ?? systemClock;
  const tailMs = opts.tailMs ?? 300;
  const idleCloseMs = opts.idleCloseMs ?? 250;
  let stream: Stream | null = null;

  const open = (rate: number, channels: number, format: string): Stream => {
    const cmd = [opts.binary ?? "aplay", "-q", "-t", "raw", "-f", "S16_LE"];
    cmd.push("-r", String(rate), "-c", String(channels), "-D", opts.device);
    const proc = spawn(cmd, { stdin: true, stdout: false });
    const stderr = readStderr(proc.stderr);
    const release = opts.muteFlag?.hold() ?? (() => {});
    const s: Stream = {
      proc,
      format,
      playedUntil: clock.monotonic(),
      waiting: new Set(),
      release,
      cancelIdle: () => {},
      stopped: false,
      failed: proc.exited.then(async (code): Promise<PlayOutcome> => {
        const text = await stderr;
        return code === 0 ? { ok: true } : { ok: false, reason: text || `${cmd[0]} exited with ${code}` };
      }),
    };
    // The mouth stays shut for the tail after aplay has drained and exited.
    void s.failed.then((outcome) => {
      if (stream === s) stream = null;
      const cut: PlayOutcome = s.stopped || outcome.ok ? { ok: false, reason: "stopped" } : outcome;
      for (const resolve of s.waiting) resolve(cut);
      s.waiting.clear();
      clock.setTimeout(release, tailMs);
    });
    return s;
  };

  const finish = (s: Stream, kill: boolean) => {
    s.cancelIdle();
    if (stream === s) stream = null;
    if (kill) {
      s.stopped = true;
      s.proc.kill();
    } else {
      try {
        s.proc.stdin?.end();
      } catch {
        s.proc.kill();
      }
    }
  };

  return {
    async play(pcm, playOpts = {}) {
      const rate = playOpts.sampleRate ?? VOICE_SAMPLE_RATE;
      const channels = playOpts.channels ?? 1;
      const format = `${rate}/${channels}`;
      if (stream && stream.format !== format) finish(stream, false);
      let s: Stream;
      try {
        stream ??= open(rate, channels, format);
        s = stream;
      } catch (err) {
        return { ok: false, reason: `cannot start aplay: ${String(err)}` };
      }
      s.cancelIdle();
      try {
        // A pipe whose reader died rejects asynchronously (EPIPE): both calls are awaited here.
        await s.proc.stdin?.write(new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength));
        await s.proc.stdin?.flush();
      } catch {
        return s.failed;
      }
      const durationMs = (pcm.length / channels / rate) * 1000;
      s.playedUntil = Math.max(s.playedUntil, clock.monotonic()) + durationMs;
      const outcome = new Promise<PlayOutcome>((resolve) => {
        s.waiting.add(resolve);
        const done = clock.setTimeout(() => {
          s.waiting.delete(resolve);
          resolve({ ok: true });
        }, s.playedUntil - clock.monotonic());
        void s.failed.then(done);
      });
      s.cancelIdle = clock.setTimeout(
        () => finish(s, false),
        s.playedUntil - clock.monotonic() + idleCloseMs,
      );
      return outcome;
    },
    stop() {
      if (stream) finish(stream, true);
    },
  };
}
