// Time is passed in, so timeouts, watchdogs and rate limits are tested without sleeping.

export interface Clock {
  /** Wall-clock milliseconds since the epoch. */
  now(): number;
  /** Monotonic milliseconds, for durations. */
  monotonic(): number;
  setTimeout(fn: () => void, ms: number): () => void;
  setInterval(fn: () => void, ms: number): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
  setInterval(fn, ms) {
    const t = setInterval(fn, ms);
    return () => clearInterval(t);
  },
};

/** A clock that only moves when told to; timers fire inside `advance`. */
export function createManualClock(startMs = 1_700_000_000_000) {
  let wall = startMs;
  let mono = 0;
  let nextId = 1;
  const timers = new Map<number, { at: number; every: number; fn: () => void }>();
  const clock: Clock & { advance(ms: number): void } = {
    now: () => wall,
    monotonic: () => mono,
    setTimeout(fn, ms) {
      const id = nextId++;
      timers.set(id, { at: mono + ms, every: 0, fn });
      return () => timers.delete(id);
    },
    setInterval(fn, ms) {
      const id = nextId++;
      timers.set(id, { at: mono + ms, every: Math.max(1, ms), fn });
      return () => timers.delete(id);
    },
    advance(ms) {
      const end = mono + ms;
      for (;;) {
        let due: [number, { at: number; every: number; fn: () => void }] | undefined;
        for (const entry of timers) if (entry[1].at <= end && (!due || entry[1].at < due[1].at)) due = entry;
        if (!due) break;
        const [id, timer] = due;
        wall += timer.at - mono;
        mono = timer.at;
        if (timer.every > 0) timer.at += timer.every;
        else timers.delete(id);
        timer.fn();
      }
      wall += end - mono;
      mono = end;
    },
  };
  return clock;
}
