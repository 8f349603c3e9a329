// Stall detection: no progress for `stallMs` calls `onStall` once. A timer checks a timestamp, so a
// progress call per chunk costs one clock read, and nothing spins while the transfer waits.
import type { Clock } from "../../platform/clock.ts";

export const DEFAULT_STALL_MS = 5000;

export interface StallWatch {
  /** Something moved: restarts the quiet period. */
  progress(): void;
  stop(): void;
}

export function createStallWatch(opts: {
  clock: Pick<Clock, "monotonic" | "setInterval">;
  stallMs?: number;
  onStall: (quietMs: number) => void;
}): StallWatch {
  const stallMs = opts.stallMs ?? DEFAULT_STALL_MS;
  let last = opts.clock.monotonic();
  let stopped = false;
  // Checking four times per period bounds detection at 1.25 × stallMs.
  const cancel = opts.clock.setInterval(
    () => {
      const quiet = opts.clock.monotonic() - last;
      if (stopped || quiet < stallMs) return;
      stopped = true;
      cancel();
      opts.onStall(quiet);
    },
    Math.max(10, Math.floor(stallMs / 4)),
  );
  return {
    progress() {
      last = opts.clock.monotonic();
    },
    stop() {
      if (stopped) return;
      stopped = true;
      cancel();
    },
  };
}
