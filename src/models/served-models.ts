// What this node tells peers it can serve (heartbeats carry it): installed models, which are loaded,
// and the generation speed measured on its own answers, so peers can send work to the fastest board.
import type { ChatService } from "./chat.ts";

export interface ServedModel {
  name: string;
  loaded: boolean;
  tokensPerSecond?: number;
}

/** Answers shorter than this say more about prompt evaluation than about generation speed. */
const MIN_TOKENS = 8;
/** Weight of the newest answer in the running average: recent load on the board counts most. */
const NEWEST_WEIGHT = 0.3;

export interface ServedModels {
  /** The chat service, with each finished answer feeding its model's measured speed. */
  measure(chat: Pick<ChatService, "start">): Pick<ChatService, "start">;
  /** Measured tokens per second of a model, if any answer was long enough to tell. */
  speed(model: string): number | undefined;
  /** The advertised list: every installed model, loaded ones marked. */
  list(installed: readonly string[], loaded: ReadonlySet<string>): ServedModel[];
}

export function createServedModels(opts: { now?: () => number } = {}): ServedModels {
  const now = opts.now ?? (() => performance.now());
  const speeds = new Map<string, number>();

  function record(model: string, tokens: number, ms: number) {
    if (tokens < MIN_TOKENS || ms <= 0) return;
    const tps = (tokens * 1000) / ms;
    const prev = speeds.get(model);
    const next = prev === undefined ? tps : prev + NEWEST_WEIGHT * (tps - prev);
    speeds.set(model, Math.round(next * 10) / 10);
  }

  return {
    measure(chat) {
      return {
        async start(req) {
          const turn = await chat.start(req);
          if (!turn.ok) return turn;
          // Timed from the start of generation: a model load before it would make the board look slow.
          const t0 = now();
          turn.result.then(
            (r) => {
              if (r.finishReason !== "abort") record(req.model.id, r.completionTokens, now() - t0);
            },
            () => undefined,
          );
          return turn;
        },
      };
    },
    speed: (model) => speeds.get(model),
    list: (installed, loaded) =>
      installed.map((name) => {
        const tps = speeds.get(name);
        return tps === undefined
          ? { name, loaded: loaded.has(name) }
          : { name, loaded: loaded.has(name), tokensPerSecond: tps };
      }),
  };
}
