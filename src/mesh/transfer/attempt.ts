// The outcome of one fetch attempt on one path: settles once, and any error that is not already a
// KianaError becomes TRANSFER_FAILED naming the path, so the caller can resume on the next path.
import { describeError, isKianaError, kianaError } from "../../errors.ts";
import type { PathName } from "./ports.ts";

export interface AttemptOutcome {
  readonly promise: Promise<void>;
  /** True once finish() was called; later calls are ignored. */
  readonly finished: boolean;
  finish(err?: unknown): void;
}

export function createAttemptOutcome(
  path: PathName,
  peerNode: string,
  onFinish?: () => void,
): AttemptOutcome {
  const done = Promise.withResolvers<void>();
  let finished = false;
  return {
    promise: done.promise,
    get finished() {
      return finished;
    },
    finish(err) {
      if (finished) return;
      finished = true;
      onFinish?.();
      if (err === undefined) done.resolve();
      else if (isKianaError(err)) done.reject(err);
      else {
        done.reject(
          kianaError("TRANSFER_FAILED", `${path} path to ${peerNode}: ${describeError(err)}`, { path }, err),
        );
      }
    },
  };
}
