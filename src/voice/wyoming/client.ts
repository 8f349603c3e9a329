// Wyoming TCP client: how the hub drives our satellites, the same protocol Home Assistant speaks.
// Incoming events are an async iterable; the same bad-frame rule as the server applies.
import type { Socket } from "bun";
import { type Clock, systemClock } from "../../platform/clock.ts";
import type { Logger } from "../../platform/log.ts";
import { type ConnectionCore, createConnectionCore, type SendOutcome } from "./connection.ts";
import type { FrameLimits, WyomingEvent } from "./framing.ts";
import { WYOMING_SATELLITE_PORT } from "./server.ts";

export interface ConnectWyomingOptions {
  host: string;
  /** Default 10700, a satellite. */
  port?: number;
  log: Logger;
  clock?: Clock;
  limits?: Partial<FrameLimits>;
  /** Events received but not yet read; past this the consumer is stuck and we hang up. Default 1024. */
  maxPendingEvents?: number;
}

export interface WyomingClient {
  readonly remote: string;
  send(event: WyomingEvent): Promise<SendOutcome>;
  /**
   * Every event from the peer, in order, ending when the connection closes. One consumer at a
   * time; leaving a `for await` loop early does not close the connection.
   */
  readonly events: AsyncIterable<WyomingEvent>;
  /** Resolves with the reason once the connection is closed, by either side. */
  readonly closed: Promise<string>;
  close(reason?: string): void;
}

interface SocketState {
  core: ConnectionCore | null;
}

type Next = IteratorResult<WyomingEvent, undefined>;
const DONE: Next = { value: undefined, done: true };

/** Rejects with the operating system's error when the peer cannot be reached. */
export async function connectWyoming(opts: ConnectWyomingOptions): Promise<WyomingClient> {
  const clock = opts.clock ?? systemClock;
  const maxPending = opts.maxPendingEvents ?? 1024;
  const port = opts.port ?? WYOMING_SATELLITE_PORT;
  const remote = `${opts.host}:${port}`;
  const pending: WyomingEvent[] = [];
  let readers: Array<(next: Next) => void> = [];
  let ended = false;
  let resolveClosed: (reason: string) => void = () => {};
  const closed = new Promise<string>((resolve) => {
    resolveClosed = resolve;
  });

  const attach = (socket: Socket<SocketState>) => {
    const core: ConnectionCore = createConnectionCore({
      id: 0,
      remote,
      sink: socket,
      log: opts.log,
      clock,
      limits: opts.limits,
      onEvent: (event) => {
        const reader = readers.shift();
        if (reader) return reader({ value: event, done: false });
        if (pending.length >= maxPending) return core.close("events not consumed");
        pending.push(event);
      },
      onClose: (reason) => {
        ended = true;
        const waiting = readers;
        readers = [];
        for (const reader of waiting) reader(DONE);
        resolveClosed(reason);
      },
    });
    socket.data = { core };
  };

  const socket = await Bun.connect<SocketState>({
    hostname: opts.host,
    port,
    data: { core: null },
    socket: {
      open: attach,
      data: (s, chunk) => s.data.core?.receive(chunk),
      drain: (s) => s.data.core?.drained(),
      end: (s) => s.data.core?.peerClosed("peer ended the stream"),
      close: (s, err) => s.data.core?.peerClosed(err ? `socket error: ${err.message}` : "socket closed"),
      error: (s, err) => s.data.core?.peerClosed(`socket error: ${err.message}`),
    },
  });
  if (!socket.data.core) attach(socket);
  const core = socket.data.core as unknown as ConnectionCore;

  const iterator: AsyncIterator<WyomingEvent, undefined> = {
    next() {
      const event = pending.shift();
      if (event) return Promise.resolve({ value: event, done: false });
      if (ended) return Promise.resolve(DONE);
      return new Promise<Next>((resolve) => readers.push(resolve));
    },
    return: () => Promise.resolve(DONE),
  };

  return {
    remote,
    send: (event) => core.send(event),
    events: { [Symbol.asyncIterator]: () => iterator },
    closed,
    close: (reason) => core.close(reason),
  };
}
