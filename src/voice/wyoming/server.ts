// Wyoming TCP server: how Home Assistant reaches a satellite (and the hub's speech services).
// Answers describe and ping itself; every other event goes to the plugged-in handler.
import type { Socket, TCPSocketListener } from "bun";
import { describeError } from "../../errors.ts";
import { type Clock, systemClock } from "../../platform/clock.ts";
import type { Logger } from "../../platform/log.ts";
import { type ConnectionCore, createConnectionCore, type WyomingConnection } from "./connection.ts";
import { errorEvent, readEvent, wyomingEvent } from "./events.ts";
import { encodeEvent, type FrameLimits, type WyomingEvent } from "./framing.ts";
import type { Info } from "./info.ts";

/** The port wyoming-satellite uses, which Home Assistant users already know. */
export const WYOMING_SATELLITE_PORT = 10700;

export interface WyomingServerOptions {
  /** Default 0.0.0.0: Home Assistant is on another machine. */
  host?: string;
  /** Default 10700; 0 picks a free port (tests). */
  port?: number;
  /** Called on every `describe`, so the answer reflects installed models and current state. */
  info: () => Info;
  /** Every event except describe and ping, in arrival order. Unknown types arrive too: ignore them. */
  onEvent(conn: WyomingConnection, event: WyomingEvent): void | Promise<void>;
  onConnect?(conn: WyomingConnection): void;
  onDisconnect?(conn: WyomingConnection, reason: string): void;
  log: Logger;
  clock?: Clock;
  limits?: Partial<FrameLimits>;
  /** Home Assistant holds one connection per satellite; a few more leave room for tools. Default 8. */
  maxConnections?: number;
  /** No bytes either way for this long closes the connection. Default 10 min, well above Home Assistant's pings. */
  idleTimeoutMs?: number;
}

export interface WyomingServer {
  readonly host: string;
  readonly port: number;
  connections(): WyomingConnection[];
  /** Closes every connection (flushing what is queued) and stops listening. */
  close(): Promise<void>;
}

interface SocketState {
  core: ConnectionCore | null;
}

export function createWyomingServer(opts: WyomingServerOptions): WyomingServer {
  const { log } = opts;
  const clock = opts.clock ?? systemClock;
  const host = opts.host ?? "0.0.0.0";
  const maxConnections = opts.maxConnections ?? 8;
  const idleTimeoutMs = opts.idleTimeoutMs ?? 10 * 60_000;
  const live = new Set<ConnectionCore>();
  let nextId = 1;

  const answer = (conn: ConnectionCore, event: WyomingEvent) => {
    if (event.type === "describe") {
      let info: Info;
      try {
        info = opts.info();
      } catch (err) {
        log.error({ err: describeError(err) }, "wyoming info failed");
        return conn.send(errorEvent("service description unavailable", "info-failed"));
      }
      return conn.send(wyomingEvent("info", info));
    }
    if (event.type === "ping") {
      // The pong must go out even for a ping whose text is not a string.
      return conn.send(wyomingEvent("pong", { text: readEvent(event, "ping")?.text }));
    }
    return opts.onEvent(conn, event);
  };

  const open = (socket: Socket<SocketState>) => {
    const id = nextId++;
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    if (live.size >= maxConnections) {
      log.warn({ remote, maxConnections }, "wyoming connection refused: too many connections");
      socket.data = { core: null };
      const refusal = encodeEvent(errorEvent("too many connections", "busy"));
      if (refusal instanceof Uint8Array) socket.end(refusal);
      else socket.end();
      return;
    }
    const core: ConnectionCore = createConnectionCore({
      id,
      remote,
      sink: socket,
      log,
      clock,
      limits: opts.limits,
      onEvent: (event) => answer(core, event),
      onClose: (reason) => {
        live.delete(core);
        opts.onDisconnect?.(core, reason);
      },
    });
    socket.data = { core };
    live.add(core);
    log.debug({ conn: id, remote }, "wyoming connection opened");
    opts.onConnect?.(core);
  };

  const listener: TCPSocketListener<SocketState> = Bun.listen<SocketState>({
    hostname: host,
    port: opts.port ?? WYOMING_SATELLITE_PORT,
    data: { core: null },
    socket: {
      open,
      data: (socket, chunk) => socket.data.core?.receive(chunk),
      drain: (socket) => socket.data.core?.drained(),
      end: (socket) => socket.data.core?.peerClosed("peer ended the stream"),
      close: (socket, err) =>
        socket.data.core?.peerClosed(err ? `socket error: ${err.message}` : "socket closed"),
      error: (socket, err) => socket.data.core?.peerClosed(`socket error: ${err.message}`),
    },
  });

  // One sweep for all connections: per-connection timers would be re-armed on every audio chunk.
  const stopSweep = clock.setInterval(
    () => {
      const now = clock.monotonic();
      for (const core of live) {
        if (now - core.lastActivity() >= idleTimeoutMs) {
          log.info({ conn: core.id, remote: core.remote }, "wyoming connection idle; closing");
          core.close("idle timeout");
        }
      }
    },
    Math.max(100, Math.min(idleTimeoutMs / 4, 30_000)),
  );

  log.info({ host, port: listener.port }, "wyoming server listening");
  return {
    host,
    port: listener.port,
    connections: () => [...live],
    async close() {
      stopSweep();
      for (const core of live) core.close("server stopping");
      // Let queued bytes reach the kernel before the listener drops what is left.
      await Bun.sleep(0);
      listener.stop(true);
    },
  };
}
