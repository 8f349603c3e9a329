import { describe, expect, test } from "bun:test";
import { createManualClock } from "../../platform/clock.ts";
import { createLogger } from "../../platform/log.ts";
import { type ConnectionOptions, createConnectionCore } from "./connection.ts";
import { audioChunk } from "./events.ts";
import { createFrameDecoder, type WyomingEvent } from "./framing.ts";
import { MIC_FORMAT, pcm16 } from "./wyoming.test-helper.ts";

/** A socket that accepts only as many bytes as the test allows, like a full kernel buffer. */
function fakeSocket(budget = Number.POSITIVE_INFINITY) {
  const written: Uint8Array[] = [];
  const state = { budget, ended: false, terminated: false };
  return {
    state,
    write(bytes: Uint8Array) {
      const n = Math.min(state.budget, bytes.length);
      state.budget -= n;
      if (n > 0) written.push(bytes.slice(0, n));
      return n;
    },
    end() {
      state.ended = true;
    },
    terminate() {
      state.terminated = true;
    },
    /** What the peer would decode from everything written so far. */
    sent(): WyomingEvent[] {
      const out = createFrameDecoder().push(new Uint8Array(Buffer.concat(written)));
      return out.flatMap((d) => (d.kind === "event" ? [d.event] : []));
    },
  };
}

function setup(sink: ReturnType<typeof fakeSocket>, extra: Partial<ConnectionOptions> = {}) {
  const clock = createManualClock();
  const logs: string[] = [];
  const received: WyomingEvent[] = [];
  const closes: string[] = [];
  const core = createConnectionCore({
    id: 1,
    remote: "test",
    sink,
    clock,
    log: createLogger({ format: "json", level: "debug", write: (l) => logs.push(l) }),
    onEvent: (e) => {
      received.push(e);
    },
    onClose: (reason) => closes.push(reason),
    ...extra,
  });
  return { core, clock, logs, received, closes };
}

const line = (s: string) => new TextEncoder().encode(`${s}\n`);

describe("write queue", () => {
  test("send waits above the high-water mark and resumes on drain, in order", async () => {
    const sink = fakeSocket(0);
    const { core } = setup(sink, { highWaterBytes: 1000 });
    const chunks = [0, 1, 2].map((i) => audioChunk(MIC_FORMAT, pcm16(320, i * 320)));
    expect(await core.send(chunks[0] as WyomingEvent)).toBe("queued");
    let second: string | undefined;
    void core.send(chunks[1] as WyomingEvent).then((o) => {
      second = o;
    });
    await Bun.sleep(0);
    expect(second).toBeUndefined();
    sink.state.budget = Number.POSITIVE_INFINITY;
    core.drained();
    await Bun.sleep(0);
    expect(second).toBe("queued");
    expect(await core.send(chunks[2] as WyomingEvent)).toBe("queued");
    expect(sink.sent()).toEqual(chunks);
  });

  test("a peer that stops reading is dropped once the queue limit is reached", async () => {
    const sink = fakeSocket(0);
    const { core, closes } = setup(sink, { highWaterBytes: 100, maxQueuedBytes: 2000 });
    const chunk = audioChunk(MIC_FORMAT, pcm16(320));
    const outcomes = [core.send(chunk), core.send(chunk), core.send(chunk), core.send(chunk)];
    expect(await Promise.all(outcomes)).toEqual(["closed", "closed", "closed", "closed"]);
    expect(sink.state.terminated).toBe(true);
    expect(closes).toEqual(["peer not reading"]);
    expect(await core.send(chunk)).toBe("closed");
  });

  test("close flushes the queue before ending; a stuck queue is cut after the grace period", async () => {
    const sink = fakeSocket(10);
    const { core, closes } = setup(sink);
    void core.send({ type: "transcript", data: { text: "the kettle is on" } });
    core.close("done");
    expect(sink.state.ended).toBe(false);
    sink.state.budget = Number.POSITIVE_INFINITY;
    core.drained();
    expect(sink.state.ended).toBe(true);
    expect(closes).toEqual(["done"]);
    expect(sink.sent()).toEqual([{ type: "transcript", data: { text: "the kettle is on" } }]);

    const stuck = fakeSocket(0);
    const second = setup(stuck);
    void second.core.send({ type: "played", data: {} });
    second.core.close("bye");
    second.clock.advance(1999);
    expect(stuck.state.terminated).toBe(false);
    second.clock.advance(1);
    expect(stuck.state.terminated).toBe(true);
    expect(second.closes).toEqual(["bye (queue not drained in time)"]);
  });

  test("an event over the frame limits is refused, not sent, and the connection stays", async () => {
    const sink = fakeSocket();
    const { core } = setup(sink, { limits: { maxPayloadBytes: 100 } });
    expect(await core.send(audioChunk(MIC_FORMAT, pcm16(51)))).toBe("unencodable");
    expect(await core.send({ type: "played", data: {} })).toBe("queued");
    expect(sink.sent()).toEqual([{ type: "played", data: {} }]);
  });
});

describe("malformed input", () => {
  test("a bad line is answered with a bad-frame error and the connection stays open", () => {
    const sink = fakeSocket();
    const { core, received } = setup(sink);
    core.receive(line("hello?"));
    core.receive(line('{"type":"played"}'));
    expect(sink.sent()).toEqual([
      { type: "error", data: { text: "bad frame: header line is not UTF-8 JSON", code: "bad-frame" } },
    ]);
    expect(received).toEqual([{ type: "played", data: {} }]);
    expect(core.closed).toBe(false);
  });

  test("a length we refuse to buffer gets an error naming the field, then a clean close", () => {
    const sink = fakeSocket();
    const { core, closes, received } = setup(sink);
    core.receive(line('{"type":"audio-chunk","payload_length":999999999}'));
    const [error] = sink.sent();
    expect(error?.type).toBe("error");
    expect(error?.data.code).toBe("bad-frame");
    expect(String(error?.data.text)).toContain("payload_length");
    expect(sink.state.ended).toBe(true);
    expect(closes[0]).toContain("payload_length");
    core.receive(line('{"type":"played"}'));
    expect(received).toEqual([]);
  });

  test("garbage cannot buy endless replies: closed after 16 bad frames", () => {
    const sink = fakeSocket();
    const { core, closes } = setup(sink);
    for (let i = 0; i < 100; i++) core.receive(line(`garbage ${i}`));
    expect(sink.sent()).toHaveLength(16);
    expect(closes).toEqual(["too many bad frames"]);
  });

  test("a handler that throws or rejects is logged; later events still arrive", async () => {
    const sink = fakeSocket();
    const seen: string[] = [];
    const { core, logs } = setup(sink, {
      onEvent: (e) => {
        seen.push(e.type);
        if (e.type === "boom") throw new Error("sync failure");
        if (e.type === "later") return Promise.reject(new Error("async failure"));
      },
    });
    core.receive(line('{"type":"boom"}\n{"type":"later"}\n{"type":"played"}'));
    await Bun.sleep(0);
    expect(seen).toEqual(["boom", "later", "played"]);
    expect(logs.filter((l) => l.includes("wyoming handler failed"))).toHaveLength(2);
    expect(core.closed).toBe(false);
  });

  test("activity is tracked from received bytes", () => {
    const sink = fakeSocket();
    const { core, clock } = setup(sink);
    clock.advance(5000);
    expect(core.lastActivity()).toBe(0);
    core.receive(line('{"type":"played"}'));
    expect(core.lastActivity()).toBe(5000);
  });
});

test("our reason for closing is the one reported, even when ending the socket reports its own close", () => {
  const sink = fakeSocket();
  let core: ReturnType<typeof setup>["core"] | undefined;
  // Like Bun's socket: end() calls straight back into the close handler.
  const end = sink.end.bind(sink);
  sink.end = () => {
    end();
    core?.peerClosed("socket closed");
  };
  const s = setup(sink);
  core = s.core;
  core.close("no pong within 5000 ms");
  expect(s.closes).toEqual(["no pong within 5000 ms"]);
  expect(sink.state.ended).toBe(true);
});
