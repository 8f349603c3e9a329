// The hub's link to a satellite notices a satellite that went silent (powered off, Wi-Fi gone) by an
// unanswered ping, and reconnects with backoff; a fake satellite on 127.0.0.1 stops answering pings.
import { afterEach, expect, test } from "bun:test";
import type { TCPSocketListener } from "bun";
import { createManualClock } from "../../platform/clock.ts";
import { createLogger } from "../../platform/log.ts";
import {
  connectWyoming,
  createFrameDecoder,
  encodeEvent,
  type WyomingEvent,
  wyomingEvent,
} from "../wyoming/index.ts";
import { SATELLITE_INFO } from "../wyoming/wyoming.test-helper.ts";
import { createSatelliteLink, type LinkState, type SatelliteLink } from "./satellite-link.ts";

const log = createLogger({ level: "silent", format: "json", write: () => {} });

/** A satellite that answers describe, and answers pings only while `answering` is true. */
function fakeSatellite() {
  const received: { conn: number; event: WyomingEvent }[] = [];
  let answering = true;
  let conns = 0;
  let latest: { write(b: Uint8Array): number } | null = null;
  const send = (socket: { write(b: Uint8Array): number }, event: WyomingEvent) => {
    const bytes = encodeEvent(event);
    if (bytes instanceof Uint8Array) socket.write(bytes);
  };
  const listener: TCPSocketListener<{ conn: number; decoder: ReturnType<typeof createFrameDecoder> }> =
    Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      data: { conn: 0, decoder: createFrameDecoder() },
      socket: {
        open(socket) {
          conns += 1;
          socket.data = { conn: conns, decoder: createFrameDecoder() };
          latest = socket;
        },
        data(socket, chunk) {
          for (const item of socket.data.decoder.push(chunk)) {
            if (item.kind !== "event") continue;
            received.push({ conn: socket.data.conn, event: item.event });
            if (item.event.type === "describe") send(socket, wyomingEvent("info", SATELLITE_INFO));
            if (item.event.type === "ping" && answering) send(socket, wyomingEvent("pong", {}));
          }
        },
      },
    });
  return {
    port: listener.port,
    received,
    /** Sends an event on the newest connection, as a satellite streaming audio would. */
    push: (event: WyomingEvent) => latest && send(latest, event),
    stopAnswering: () => {
      answering = false;
    },
    count: (type: string, conn?: number) =>
      received.filter((r) => r.event.type === type && (conn === undefined || r.conn === conn)).length,
    stop: () => listener.stop(true),
  };
}

/** Real sockets, so real time passes for bytes to travel; every wait is bounded. */
async function until(what: string, ok: () => boolean, timeoutMs = 3000) {
  const start = performance.now();
  while (!ok()) {
    if (performance.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const fn of cleanup.splice(0).reverse()) fn();
});

function startLink(port: number) {
  const clock = createManualClock();
  const states: LinkState[] = [];
  const toSession: WyomingEvent[] = [];
  /** Every event the link has read, so the test knows a pong arrived before moving the clock on. */
  const read: WyomingEvent[] = [];
  const link: SatelliteLink = createSatelliteLink({
    host: "127.0.0.1",
    port,
    log,
    clock,
    minBackoffMs: 500,
    random: () => 0.5,
    pingIntervalMs: 10_000,
    pongTimeoutMs: 5000,
    onState: (s) => states.push(s),
    connect: async (o) => {
      const c = await connectWyoming(o);
      const it = c.events[Symbol.asyncIterator]();
      const next = async () => {
        const r = await it.next();
        if (!r.done) read.push(r.value);
        return r;
      };
      return { ...c, events: { [Symbol.asyncIterator]: () => ({ next }) } };
    },
    session: () => ({
      receive: async (event) => {
        toSession.push(event);
      },
      announce: async () => {},
      close: () => {},
    }),
  });
  cleanup.push(() => link.stop());
  return { clock, states, toSession, read, link };
}

test("a satellite that stops answering pings is dropped within the pong bound and reconnected", async () => {
  const sat = fakeSatellite();
  cleanup.push(sat.stop);
  const { clock, states, toSession, read, link } = startLink(sat.port);
  await until("the link to run", () => link.state.state === "running" && sat.count("run-satellite") === 1);

  // Quiet for 10 s: a ping, answered; the pong is the link's business, not the session's.
  clock.advance(9999);
  await Bun.sleep(20);
  expect(sat.count("ping")).toBe(0);
  clock.advance(1);
  await until("the first ping", () => sat.count("ping") === 1);
  await until("the pong to be read", () => read.some((e) => e.type === "pong"));
  clock.advance(5000);
  expect(link.state.state).toBe("running");
  expect(toSession.map((e) => e.type)).not.toContain("pong");

  // The satellite goes silent: the next ping goes unanswered and the link is lost 5 s later.
  sat.stopAnswering();
  clock.advance(5000);
  await until("the second ping", () => sat.count("ping") === 2);
  clock.advance(4999);
  await Bun.sleep(20);
  expect(link.state.state).toBe("running");
  clock.advance(1);
  await until("the link to give up", () => link.state.state === "waiting");
  const waiting = states.find((s) => s.state === "waiting");
  expect(waiting).toEqual({ state: "waiting", retryInMs: 500, reason: "no pong within 5000 ms" });

  // The existing backoff takes over: a fresh connection with describe and run-satellite.
  clock.advance(500);
  await until("a reconnect", () => link.state.state === "running" && sat.count("run-satellite", 2) === 1);
  expect(sat.count("describe", 2)).toBe(1);
});

test("a satellite that keeps talking is not pinged until it has been quiet for the interval", async () => {
  const sat = fakeSatellite();
  cleanup.push(sat.stop);
  const { clock, read, link } = startLink(sat.port);
  await until("the link to run", () => link.state.state === "running");
  clock.advance(6000);
  sat.push(wyomingEvent("streaming-started", {}));
  await until("the satellite's event to be read", () => read.some((e) => e.type === "streaming-started"));
  clock.advance(4000);
  await Bun.sleep(20);
  expect(sat.count("ping")).toBe(0);
  clock.advance(5999);
  await Bun.sleep(20);
  expect(sat.count("ping")).toBe(0);
  clock.advance(1);
  await until("a ping after 10 s of quiet", () => sat.count("ping") === 1);
  expect(link.state.state).toBe("running");
});
