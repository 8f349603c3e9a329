// The hub's connection to one satellite, as Home Assistant holds one: connect, describe, run-satellite,
// then serve the satellite's utterances; when the connection drops, reconnect with backoff.
import { describeError } from "../../errors.ts";
import { type Clock, systemClock } from "../../platform/clock.ts";
import type { Logger } from "../../platform/log.ts";
import {
  connectWyoming,
  type Info,
  readEvent,
  type WyomingClient,
  type WyomingEvent,
  wyomingEvent,
} from "../wyoming/index.ts";
import type { SatelliteSession } from "./satellite-session.ts";

export interface SatelliteLinkOptions {
  host: string;
  port: number;
  log: Logger;
  clock?: Clock;
  /** A new session per connection: what is half-said when a link drops is not resumed. */
  session(name: string, send: (event: WyomingEvent) => Promise<unknown>): SatelliteSession;
  connect?: typeof connectWyoming;
  /** First retry delay, doubled per failure up to `maxBackoffMs`. Default 500 ms and 30 s. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** How long the satellite may take to answer describe. Default 5 s. */
  describeTimeoutMs?: number;
  /** A running link that heard nothing for this long sends a `ping`. Default 10 s. */
  pingIntervalMs?: number;
  /** No event (a `pong` or anything else) within this long after a ping: the link is lost. Default 5 s. */
  pongTimeoutMs?: number;
  random?: () => number;
  onState?(state: LinkState): void;
}

export type LinkState =
  | { state: "connecting" }
  | { state: "running"; name: string }
  | { state: "waiting"; retryInMs: number; reason: string }
  /** A Wyoming server that is not a satellite (e.g. another hub's speech services): left alone. */
  | { state: "not-a-satellite" }
  | { state: "stopped" };

export interface SatelliteLink {
  readonly address: string;
  readonly state: LinkState;
  /** The satellite's name from its info, once running. */
  readonly name: string | null;
  announce(text: string, timerId?: string): Promise<boolean>;
  stop(): void;
}

export function createSatelliteLink(opts: SatelliteLinkOptions): SatelliteLink {
  const clock = opts.clock ?? systemClock;
  const connect = opts.connect ?? connectWyoming;
  const minBackoff = opts.minBackoffMs ?? 500;
  const maxBackoff = opts.maxBackoffMs ?? 30_000;
  const random = opts.random ?? Math.random;
  const address = `${opts.host}:${opts.port}`;
  const log = opts.log.child({ satellite: address });
  let state: LinkState = { state: "connecting" };
  let name: string | null = null;
  let client: WyomingClient | null = null;
  let session: SatelliteSession | null = null;
  let stopped = false;
  let wake = () => {};

  const set = (next: LinkState) => {
    state = next;
    opts.onState?.(next);
  };
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const cancel = clock.setTimeout(resolve, ms);
      wake = () => {
        cancel();
        resolve();
      };
    });

  /**
   * A satellite that lost power or its Wi-Fi leaves the TCP connection open for many minutes; a
   * ping after a quiet spell, unanswered in time, ends the connection so the retry loop takes over.
   * Any event counts as an answer, so a streaming satellite is never pinged. One timer per
   * connection, re-armed from the last event heard, not on every audio chunk.
   */
  function watchLiveness(c: WyomingClient): { heard(): void; stop(): void } {
    const every = opts.pingIntervalMs ?? 10_000;
    const within = opts.pongTimeoutMs ?? 5000;
    let lastHeard = clock.monotonic();
    let pingedAt: number | null = null;
    let cancel = () => {};
    /** Runs when the next ping is due, or when the last ping's answer is due. */
    const check = () => {
      const now = clock.monotonic();
      const waitingForPong = pingedAt !== null && lastHeard < pingedAt;
      if (waitingForPong && now - (pingedAt as number) >= within) {
        log.warn({ pongTimeoutMs: within }, "satellite did not answer a ping");
        c.close(`no pong within ${within} ms`);
        return;
      }
      if (waitingForPong) {
        cancel = clock.setTimeout(check, (pingedAt as number) + within - now);
        return;
      }
      pingedAt = null;
      if (now - lastHeard < every) {
        cancel = clock.setTimeout(check, lastHeard + every - now);
        return;
      }
      pingedAt = now;
      void c.send(wyomingEvent("ping", { text: String(now) }));
      cancel = clock.setTimeout(check, within);
    };
    cancel = clock.setTimeout(check, every);
    return {
      heard: () => {
        lastHeard = clock.monotonic();
      },
      stop: () => cancel(),
    };
  }

  /** One connection's life; returns why it ended, or null when the peer is not a satellite. */
  async function serve(): Promise<string | null> {
    const c = await connect({ host: opts.host, port: opts.port, log, clock });
    client = c;
    if (stopped) c.close("hub stopping");
    const events = c.events[Symbol.asyncIterator]();
    await c.send(wyomingEvent("describe", {}));
    let timer = () => {};
    const timeout = new Promise<null>((resolve) => {
      timer = clock.setTimeout(() => resolve(null), opts.describeTimeoutMs ?? 5000);
    });
    let info: Info | null = null;
    while (!info) {
      const next = await Promise.race([events.next(), timeout]);
      if (!next || next.done) {
        timer();
        c.close("no answer to describe");
        return next ? await c.closed : "no answer to describe";
      }
      info = readEvent(next.value, "info");
    }
    timer();
    if (!info.satellite) {
      c.close("not a satellite");
      return null;
    }
    name = info.satellite.name;
    const s = opts.session(name, (event) => c.send(event));
    session = s;
    await c.send(wyomingEvent("run-satellite", {}));
    set({ state: "running", name });
    log.info({ name }, "satellite running");
    const liveness = watchLiveness(c);
    for (;;) {
      const next = await events.next();
      if (next.done) break;
      liveness.heard();
      if (next.value.type === "pong") continue;
      // Not awaited: answering an utterance takes seconds, and reading must go on meanwhile.
      s.receive(next.value).catch((err) => log.error({ err: describeError(err) }, "satellite event failed"));
    }
    liveness.stop();
    s.close();
    session = null;
    return await c.closed;
  }

  void (async () => {
    let backoff = minBackoff;
    while (!stopped) {
      set({ state: "connecting" });
      let reason: string | null;
      const startedAt = clock.monotonic();
      try {
        reason = await serve();
      } catch (err) {
        reason = describeError(err);
      }
      client = null;
      if (stopped) break;
      if (reason === null) {
        set({ state: "not-a-satellite" });
        log.info("a Wyoming server without a satellite; not driven");
        return;
      }
      // A connection that ran a while was healthy: the next retry starts from the shortest delay.
      if (clock.monotonic() - startedAt > maxBackoff) backoff = minBackoff;
      // Jitter keeps a hub with many satellites from reconnecting to all of them at the same instant.
      const delay = Math.round(backoff * (0.75 + random() * 0.5));
      set({ state: "waiting", retryInMs: delay, reason });
      log.info({ reason, retryInMs: delay }, "satellite connection lost; retrying");
      await sleep(delay);
      backoff = Math.min(backoff * 2, maxBackoff);
    }
    set({ state: "stopped" });
  })();

  return {
    address,
    get state() {
      return state;
    },
    get name() {
      return name;
    },
    async announce(text, timerId) {
      if (!session) return false;
      await session.announce(text, timerId);
      return true;
    },
    stop() {
      stopped = true;
      session?.close();
      client?.close("hub stopping");
      wake();
    },
  };
}
