// Keeps systemd's WatchdogSec= satisfied while the process is healthy, so a wedged runtime is
// killed and restarted instead of lingering.
import { type Clock, systemClock } from "./clock.ts";
import type { SdNotifier } from "./sd-notify.ts";

export interface WatchdogOptions {
  notifier: Pick<SdNotifier, "enabled" | "watchdog">;
  /** Where WATCHDOG_USEC and WATCHDOG_PID come from; process.env by default. */
  env?: Record<string, string | undefined>;
  clock?: Clock;
  /** Checked before every ping; false (or a throw) withholds the ping so systemd steps in. */
  healthy?: () => boolean;
}

export interface Watchdog {
  /** Ping period in ms, or null when systemd asked for no watchdog (or not of this process). */
  intervalMs: number | null;
  stop(): void;
}

/**
 * The ping period systemd expects from this environment, or null when none applies. Half of
 * WATCHDOG_USEC leaves a full period of slack for a late timer, as sd_watchdog_enabled(3) advises.
 */
export function watchdogIntervalMs(env: Record<string, string | undefined>, pid: number): number | null {
  const usecText = env.WATCHDOG_USEC?.trim();
  if (!usecText || !/^\d+$/.test(usecText)) return null;
  const usec = Number(usecText);
  if (!Number.isSafeInteger(usec) || usec <= 0) return null;
  // systemd sets WATCHDOG_PID for the main process; a child that inherited the env must stay quiet.
  const pidText = env.WATCHDOG_PID?.trim();
  if (pidText && pidText !== String(pid)) return null;
  return Math.max(1, Math.floor(usec / 2000));
}

export function startWatchdog(opts: WatchdogOptions): Watchdog {
  const { notifier } = opts;
  const clock = opts.clock ?? systemClock;
  const healthy = opts.healthy ?? (() => true);
  const intervalMs = watchdogIntervalMs(opts.env ?? process.env, process.pid);
  // Without a notify socket the pings would go nowhere; report no watchdog rather than a fake one.
  if (intervalMs === null || !notifier.enabled) return { intervalMs: null, stop() {} };

  const ping = () => {
    let ok: boolean;
    try {
      ok = healthy();
    } catch {
      ok = false;
    }
    if (ok) notifier.watchdog();
  };
  const cancel = clock.setInterval(ping, intervalMs);
  let stopped = false;
  return {
    intervalMs,
    stop() {
      if (stopped) return;
      stopped = true;
      cancel();
    },
  };
}
