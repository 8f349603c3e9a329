// The satellite's side of the FedAvg loop: asks the released verifier about each wake detection, and
// labels the detections the user heard by what followed, so the verifier learns this household.
// Only the detector's embedding window is kept, never audio.
import type { Logger } from "../../platform/log.ts";
import type { SatelliteActivity, WakeExampleSink, WakeStats, WakeVerdict } from "./satellite-types.ts";

export interface WakeLearnerOptions {
  log: Logger;
  wakeWindow?: () => Float32Array;
  verify?: (window: Float32Array) => WakeVerdict | undefined;
  examples?: WakeExampleSink | null;
  emit(activity: SatelliteActivity): void;
}

export interface WakeLearner {
  readonly stats: Readonly<WakeStats>;
  /**
   * At a detection: the window to begin the utterance with (undefined when there is none), or false
   * when the verifier rejected it and the detection is to be ignored.
   */
  verify(name: string, atMs: number): Float32Array | undefined | false;
  /** An utterance began; `window` is its detection's, absent for a trigger. */
  heard(window: Float32Array | undefined): void;
  /** The pending detection's outcome: 1 the user went on, 0 a false wake. */
  label(y: 0 | 1): void;
  transcript(text: string): void;
  answered(): void;
  /** The utterance is over without a clear outcome: nothing is learned from it. */
  drop(): void;
}

export function createWakeLearner(opts: WakeLearnerOptions): WakeLearner {
  const { log, emit } = opts;
  const stats: WakeStats = { detected: 0, rejected: 0, confirmed: 0, cancelled: 0 };
  /** The heard detection's window until the outcome labels it; `transcribed` once an empty transcript came. */
  let pending: { window: Float32Array; transcribed: boolean } | null = null;

  function window(): Float32Array | undefined {
    try {
      const w = opts.wakeWindow?.();
      // A copy: the detector may reuse its buffer, and the label comes seconds later.
      return w && w.length > 0 ? w.slice() : undefined;
    } catch (err) {
      log.warn({ err: String(err) }, "the wake detector's window could not be read");
      return undefined;
    }
  }

  function label(y: 0 | 1) {
    const p = pending;
    pending = null;
    if (!p || !opts.examples) return;
    const source = y === 1 ? "confirmed" : "cancelled";
    try {
      opts.examples.add(p.window, y, source);
      stats[source]++;
      emit({ type: "wake-example", label: y, source });
    } catch (err) {
      log.warn({ err: String(err) }, "a wake word example could not be stored");
    }
  }

  return {
    stats,
    verify(name, atMs) {
      stats.detected++;
      const w = window();
      let verdict: WakeVerdict | undefined;
      try {
        verdict = w && opts.verify ? opts.verify(w) : undefined;
      } catch (err) {
        // A broken model must not deafen the satellite: the detector's word stands.
        log.warn({ err: String(err) }, "the wake verifier failed; the detection stands");
      }
      if (verdict && !verdict.accept) {
        stats.rejected++;
        log.debug({ wakeWord: name, score: verdict.score }, "wake word rejected by the verifier");
        emit({ type: "wake-rejected", name, score: verdict.score, atMs });
        return false;
      }
      return w;
    },
    heard(w) {
      pending = w && opts.examples ? { window: w, transcribed: false } : null;
    },
    label,
    transcript(text) {
      if (!pending) return;
      // An empty transcript is unclear (mumbling, a TV): neither label, and no answer will make it one.
      if (text.trim() !== "") label(1);
      else pending.transcribed = true;
    },
    answered() {
      if (pending && !pending.transcribed) label(1);
    },
    drop() {
      pending = null;
    },
  };
}
