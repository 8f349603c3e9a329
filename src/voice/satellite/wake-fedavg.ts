// Binds the satellite's wake verifier and example sink to FedAvg: the released model scores each
// detection's embedding window, and labelled windows go to the device's own example store as the
// verifier's features (the trainer reads them as they are). Imported lazily, only with fedavg on.
import { type ExampleStore, WAKE_FEATURES, wakeFeatures } from "../../fedavg/index.ts";
import type { WakeExampleSink, WakeVerdict } from "./satellite-types.ts";

export interface WakeFedavgOptions {
  /** The current model's scorer (probability of the wake word); null before the first release. */
  verifier: () => ((window: Float32Array) => number) | null;
  /** The device's example store; null collects nothing. */
  examples: ExampleStore | null;
  /** Detections scored below this are ignored. Default 0.5. */
  threshold?: number;
  /** The example store's task. Default "wake". */
  task?: string;
}

export function createWakeFedavg(o: WakeFedavgOptions): {
  verify: (window: Float32Array) => WakeVerdict | undefined;
  examples: WakeExampleSink | null;
} {
  const threshold = o.threshold ?? 0.5;
  const task = o.task ?? "wake";
  const store = o.examples;
  return {
    verify(window) {
      // Asked per detection, so a model released a moment ago already decides this one.
      const score = o.verifier();
      // A window short of 16 embeddings (just after a reset) is not what the model learned on.
      if (!score || window.length !== WAKE_FEATURES) return undefined;
      const p = score(window);
      return { accept: p >= threshold, score: p };
    },
    examples: store && {
      add(window, label, source) {
        store.add(task, wakeFeatures(window), label, source);
      },
    },
  };
}
