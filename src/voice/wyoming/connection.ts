// One Wyoming peer over any byte stream: decoding, a bounded write queue that follows the socket's
// drain, and the rule for malformed input. The server and the client wrap a Bun socket in this.
import { describeError } from "../../errors.ts";
import type { Clock } from "../../platform/clock.ts";
import type { Logger } from "../../platform/log.ts";
import { errorEvent } from "./events.ts";
import {
  createFrameDecoder,
  encodeEvent,
  type FrameError,
  type FrameLimits,
  type WyomingEvent,
} from "./framing.ts";

/** What a Bun TCP socket offers; a test passes a fake to drive partial writes and drains. */
export interface ByteSink {
  /** Bytes accepted now; the rest must be written again after the next drain. */
  write(bytes: Uint8Array): number;
  end(): void;
  terminate(): void;
}

/** "queued": handed to the socket or its queue. "unencodable": over the frame limits, not sent. */
export type SendOutcome = "queued" | "closed" | "unencodable";

export interface WyomingConnection {
  readonly id: number;
  /** `address:port` of the peer, for logs. */
  readonly remote: string;
  readonly closed: boolean;
  /** Resolves once the bytes are queued, waiting while more than the high-water mark is queued. */
  send(event: WyomingEvent): Promise<SendOutcome>;
  /** Flushes what is queued, then ends the stream. */
  close(reason?: string): void;
}

export interface ConnectionCore extends WyomingConnection {
  /** Monotonic ms of the last byte received or written, for idle timeouts. */
  lastActivity(): number;
  receive(chunk: Uint8Array): void;
  drained(): void;
  /** The peer ended its side or the socket closed. */
  peerClosed(reason: string): void;
}

export interface ConnectionOptions {
  id: number;
  remote: string;
  sink: ByteSink;
  log: Logger;
  clock: Clock;
  /** May return a promise; a rejection is logged, not awaited, so the next event is not held up. */
  onEvent(event: WyomingEvent): unknown;
  onClose?(reason: string): void;
  limits?: Partial<FrameLimits>;
  /** `send` waits while more than this is queued. Default 1 MiB (30 s of 16 kHz audio). */
  highWaterBytes?: number;
  /** A peer that lets this much pile up is not reading; it is dropped. Default 8 MiB. */
  maxQueuedBytes?: number;
  /** Bad frames tolerated before the connection is closed, so garbage cannot buy endless replies. */
  maxBadFrames?: number;
  /** How long a graceful close may wait for the queue to drain. Default 2 s. */
  closeGraceMs?: number;
}

/**
 * Malformed input: every bad frame is answered with an `error` event (code "bad-frame"). When the
 * decoder can resync (a bad header line or data section) the connection stays open; when it cannot
 * (bad or oversized lengths, an over-long header, a cut frame) or after `maxBadFrames`, it closes.
 */
export function createConnectionCore(opts: ConnectionOptions): ConnectionCore {
  const { sink, log, clock } = opts;
  const highWater = opts.highWaterBytes ?? 1024 * 1024;
  const maxQueued = opts.maxQueuedBytes ?? 8 * 1024 * 1024;
  const maxBadFrames = opts.maxBadFrames ?? 16;
  const decoder = createFrameDecoder(opts.limits);
  const queue: Uint8Array[] = [];
  let queued = 0;
  let waiters: Array<(outcome: SendOutcome) => void> = [];
  let badFrames = 0;
  let closing = false;
  let closed = false;
  let closeReason = "";
  let cancelGrace: (() => void) | null = null;
  let last = clock.monotonic();

  const release = (outcome: SendOutcome) => {
    const ready = waiters;
    waiters = [];
    for (const resolve of ready) resolve(outcome);
  };

  const finish = (reason: string) => {
    if (closed) return;
    closed = true;
    closing = true;
    cancelGrace?.();
    queue.length = 0;
    queued = 0;
    release("closed");
    log.debug({ conn: opts.id, remote: opts.remote, reason }, "wyoming connection closed");
    opts.onClose?.(reason);
  };

  const flush = () => {
    while (queue.length > 0 && !closed) {
      const head = queue[0] as Uint8Array;
      let written: number;
      try {
        written = sink.write(head);
      } catch (err) {
        finish(`write failed: ${describeError(err)}`);
        return;
      }
      if (written < 0) return finish("socket closed");
      if (written > 0) last = clock.monotonic();
      queued -= Math.min(written, head.length);
      if (written < head.length) {
        queue[0] = head.subarray(written);
        break;
      }
      queue.shift();
    }
    if (queued <= highWater) release("queued");
    if (closing && !closed && queued === 0) {
      // Finished first: ending the socket calls back into peerClosed, whose "socket closed" would
      // otherwise replace the reason we closed for.
      finish(closeReason);
      sink.end();
    }
  };

  const close = (reason = "closed by us") => {
    if (closing) return;
    closing = true;
    closeReason = reason;
    cancelGrace = clock.setTimeout(() => {
      finish(`${reason} (queue not drained in time)`);
      sink.terminate();
    }, opts.closeGraceMs ?? 2000);
    flush();
  };

  const enqueue = (event: WyomingEvent): SendOutcome => {
    if (closing) return "closed";
    const bytes = encodeEvent(event, { limits: opts.limits });
    if (!(bytes instanceof Uint8Array)) {
      log.warn({ conn: opts.id, type: event.type, problem: bytes.message }, "wyoming event not sent");
      return "unencodable";
    }
    if (queued + bytes.length > maxQueued) {
      log.warn({ conn: opts.id, remote: opts.remote, queued }, "wyoming peer is not reading; dropping it");
      sink.terminate();
      finish("peer not reading");
      return "closed";
    }
    queue.push(bytes);
    queued += bytes.length;
    flush();
    return closed ? "closed" : "queued";
  };

  const badFrame = (error: FrameError) => {
    badFrames += 1;
    log.debug({ conn: opts.id, field: error.field, problem: error.message }, "wyoming bad frame");
    enqueue(errorEvent(`bad frame: ${error.message}`, "bad-frame"));
    if (error.fatal) close(`bad frame: ${error.message}`);
    else if (badFrames >= maxBadFrames) close("too many bad frames");
  };

  const dispatch = (event: WyomingEvent) => {
    try {
      const result = opts.onEvent(event);
      if (result instanceof Promise) {
        result.catch((err) =>
          log.error({ conn: opts.id, type: event.type, err: describeError(err) }, "wyoming handler failed"),
        );
      }
    } catch (err) {
      log.error({ conn: opts.id, type: event.type, err: describeError(err) }, "wyoming handler failed");
    }
  };

  return {
    id: opts.id,
    remote: opts.remote,
    get closed() {
      return closed || closing;
    },
    send(event) {
      const outcome = enqueue(event);
      if (outcome !== "queued" || queued <= highWater) return Promise.resolve(outcome);
      return new Promise((resolve) => waiters.push(resolve));
    },
    close,
    lastActivity: () => last,
    receive(chunk) {
      if (closing) return;
      last = clock.monotonic();
      for (const item of decoder.push(chunk)) {
        if (closing) break;
        if (item.kind === "event") dispatch(item.event);
        else badFrame(item.error);
      }
    },
    drained: flush,
    peerClosed(reason) {
      if (closed) return;
      for (const item of decoder.end()) {
        if (item.kind === "error")
          log.debug({ conn: opts.id, problem: item.error.message }, "wyoming stream cut");
      }
      // A peer that drops while we wait for our queue to drain: we were closing it anyway.
      finish(closing ? closeReason : reason);
    },
  };
}
