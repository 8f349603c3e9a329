// Named kitchen timers on the passed-in clock: several at once, one per name, and a callback when
// one rings so the voice pipeline can announce it. Durations are measured on the monotonic clock so
// a wall-clock jump (NTP on a board without RTC) neither fires nor delays them.
import type { Clock } from "../platform/clock.ts";

export interface RunningTimer {
  name: string;
  durationMs: number;
  remainingMs: number;
}

export interface TimerRang {
  name: string;
  durationMs: number;
}

export interface TimerKeeper {
  /** Starts a timer; one already running under `name` is replaced (said twice means restart). */
  start(name: string, durationMs: number): RunningTimer;
  cancel(name: string): boolean;
  cancelAll(): number;
  /** Running timers, the one that rings first first. */
  list(): RunningTimer[];
  get(name: string): RunningTimer | undefined;
}

export const MIN_TIMER_MS = 1000;
export const MAX_TIMER_MS = 24 * 3_600_000;

export function createTimerKeeper(opts: { clock: Clock; onRing?: (e: TimerRang) => void }): TimerKeeper {
  const { clock } = opts;
  const running = new Map<string, { durationMs: number; endsAt: number; stop: () => void }>();
  const view = (name: string, t: { durationMs: number; endsAt: number }): RunningTimer => ({
    name,
    durationMs: t.durationMs,
    remainingMs: Math.max(0, t.endsAt - clock.monotonic()),
  });
  const cancel = (name: string) => {
    const t = running.get(name);
    t?.stop();
    return running.delete(name);
  };
  return {
    start(name, durationMs) {
      if (!(durationMs >= MIN_TIMER_MS && durationMs <= MAX_TIMER_MS))
        throw new RangeError(`a timer lasts ${MIN_TIMER_MS} ms to ${MAX_TIMER_MS} ms, not ${durationMs}`);
      cancel(name);
      const entry = {
        durationMs,
        endsAt: clock.monotonic() + durationMs,
        stop: clock.setTimeout(() => {
          // Only the timer this callback belongs to: a restarted one has a new entry.
          if (running.get(name) !== entry) return;
          running.delete(name);
          opts.onRing?.({ name, durationMs });
        }, durationMs),
      };
      running.set(name, entry);
      return view(name, entry);
    },
    cancel,
    cancelAll() {
      const n = running.size;
      for (const name of [...running.keys()]) cancel(name);
      return n;
    },
    list: () => [...running].map(([name, t]) => view(name, t)).sort((a, b) => a.remainingMs - b.remainingMs),
    get(name) {
      const t = running.get(name);
      return t && view(name, t);
    },
  };
}

const UNITS = [
  ["hour", 3_600_000],
  ["minute", 60_000],
  ["second", 1000],
] as const;

/**
 * A duration as people say it, rounded up to whole seconds so a timer never sounds done early:
 * "5 minutes", "1 hour and 30 minutes", "4 minutes and 10 seconds".
 */
export function formatDuration(ms: number): string {
  let rest = Math.max(0, Math.ceil(ms / 1000)) * 1000;
  const parts: string[] = [];
  for (const [unit, size] of UNITS) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0) parts.push(`${n} ${unit}${n === 1 ? "" : "s"}`);
  }
  if (parts.length === 0) return "0 seconds";
  return parts.length === 1 ? (parts[0] as string) : `${parts.slice(0, -1).join(", ")} and ${parts.at(-1)}`;
}

/** "5 minute" for the name of an unnamed timer: "your 5 minute timer is done". */
export function durationName(ms: number): string {
  return formatDuration(ms)
    .replace(/(\d+) (hour|minute|second)s\b/g, "$1 $2")
    .replace(/ and /, " ");
}
