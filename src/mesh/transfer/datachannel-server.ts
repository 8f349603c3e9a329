// Sender side of the data-channel path: answers peer connections signalled by enrolled peers and
// streams a shared file from the offset each one asks for, paced by bufferedAmount and the
// receiver's acknowledgements, never by a polling loop.
import { randomBytes } from "node:crypto";
import { type Clock, systemClock } from "../../platform/clock.ts";
import {
  CHANNEL_LABEL,
  type Control,
  closeQuietly,
  type DataChannel,
  type DataChannelModule,
  DEFAULT_HIGH_WATER,
  DEFAULT_LOW_WATER,
  DEFAULT_WINDOW,
  guarded,
  messageBytes,
  type PeerConnection,
  parseControl,
  type RtcOptions,
  rtcConfig,
} from "./datachannel-common.ts";
import type { FileCatalog } from "./ports.ts";
import type { RtcSignal, RtcSignalling } from "./signalling.ts";
import { createStallWatch, DEFAULT_STALL_MS } from "./stall.ts";

export type ReadRange = (path: string, start: number, end: number) => Promise<Uint8Array>;

export interface DataChannelServerOptions {
  module: DataChannelModule;
  signalling: RtcSignalling;
  catalog: FileCatalog;
  rtc?: RtcOptions;
  clock?: Clock;
  /** No acknowledged progress for this long closes the session (frees the peer connection). */
  stallMs?: number;
  maxSessions?: number;
  highWater?: number;
  lowWater?: number;
  window?: number;
  /** Reads file bytes; tests replace it to simulate a disk or peer that stops. */
  read?: ReadRange;
  onEvent?: (event: { session: string; what: string; detail?: string }) => void;
}

export interface DataChannelServer {
  readonly sessions: number;
  close(): Promise<void>;
}

export const readFileRange: ReadRange = async (path, start, end) => Bun.file(path).slice(start, end).bytes();

interface Session {
  id: string;
  peerNode: string;
  fingerprint: string;
  pc: PeerConnection;
  // Held so the garbage collector cannot destroy a channel that is still in use (measured:
  // an unreferenced remote DataChannel is collected and its messages are then dropped).
  channels: Set<DataChannel>;
  end(why: string): void;
}

export function createDataChannelServer(opts: DataChannelServerOptions): DataChannelServer {
  const clock = opts.clock ?? systemClock;
  const read = opts.read ?? readFileRange;
  const high = opts.highWater ?? DEFAULT_HIGH_WATER;
  const low = opts.lowWater ?? DEFAULT_LOW_WATER;
  const window = opts.window ?? DEFAULT_WINDOW;
  const sessions = new Map<string, Session>();
  const event = (session: string, what: string, detail?: string) => {
    try {
      opts.onEvent?.({ session, what, ...(detail ? { detail } : {}) });
    } catch {
      // reporting must not break a session
    }
  };

  function serveChannel(s: Session, dc: DataChannel) {
    const cb = guarded((err) => s.end(`callback failed: ${String(err)}`));
    let wake: (() => void) | undefined;
    const poke = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    let sent = 0;
    let acked = 0;
    let size = 0;
    let started = false;
    let closed = false;
    const stall = createStallWatch({
      clock,
      stallMs: opts.stallMs ?? DEFAULT_STALL_MS,
      onStall: (ms) =>
        s.end(
          `stalled: no acknowledgement for ${Math.round(ms)} ms at ${acked}/${size} bytes, ${dc.bufferedAmount()} buffered`,
        ),
    });

    const send = (c: Control) => dc.sendMessage(JSON.stringify(c));
    async function pump(path: string) {
      while (sent < size && !closed) {
        if (dc.bufferedAmount() > high || sent - acked >= window) {
          // Woken by onBufferedAmountLow, an ack or the channel closing: all events, no timer.
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          continue;
        }
        const bytes = await read(path, sent, Math.min(size, sent + chunkSize));
        if (closed) return;
        if (bytes.length === 0) throw new Error(`read returned nothing at ${sent}`);
        dc.sendMessageBinary(bytes);
        sent += bytes.length;
      }
    }
    let chunkSize = 0;

    dc.setBufferedAmountLowThreshold(low);
    dc.onBufferedAmountLow(cb(poke));
    dc.onClosed(
      cb(() => {
        closed = true;
        stall.stop();
        poke();
        s.end("channel closed");
      }),
    );
    dc.onError(cb((err: string) => s.end(`channel error: ${err}`)));
    dc.onMessage(
      cb((msg: string | Buffer | ArrayBuffer) => {
        const m = messageBytes(msg);
        const c = typeof m === "string" ? parseControl(m) : undefined;
        if (!c) return s.end("unexpected message from the receiver");
        if (c.t === "ack") {
          if (c.offset > acked && c.offset <= sent) acked = c.offset;
          stall.progress();
          if (acked === size) stall.stop();
          return poke();
        }
        if (c.t === "error") return s.end(`receiver error: ${c.message}`);
        if (started) return s.end("second start on one channel");
        started = true;
        const file = opts.catalog.get(c.id);
        if (!file || (file.allow && !file.allow.has(s.fingerprint))) {
          send({ t: "error", message: `no shared file ${c.id} for this peer` });
          return s.end("unknown or forbidden transfer");
        }
        if (c.offset < 0 || c.offset > file.offer.size) {
          send({ t: "error", message: `offset ${c.offset} is outside 0..${file.offer.size}` });
          return s.end("bad offset");
        }
        size = file.offer.size;
        chunkSize = file.offer.chunkSize;
        sent = acked = c.offset;
        event(s.id, "start", `${c.id} from ${c.offset}`);
        stall.progress();
        pump(file.path).catch((err) => {
          if (closed) return;
          try {
            send({ t: "error", message: `sender failed: ${String(err)}` });
          } catch {
            // channel already gone
          }
          s.end(`pump failed: ${String(err)}`);
        });
      }),
    );
  }

  function accept(sig: RtcSignal, fingerprint: string) {
    const maxSessions = opts.maxSessions ?? 8;
    if (sessions.size >= maxSessions) {
      void opts.signalling.send(sig.from, { session: sig.session, kind: "bye" }).catch(() => {});
      return event(sig.session, "refused", `at the limit of ${maxSessions} sessions`);
    }
    const pc = new opts.module.PeerConnection(`kiana-${randomBytes(4).toString("hex")}`, rtcConfig(opts.rtc));
    let ended = false;
    let cancelConnect = () => {};
    const s: Session = {
      id: sig.session,
      peerNode: sig.from,
      fingerprint,
      pc,
      channels: new Set(),
      end(why) {
        if (ended) return;
        ended = true;
        sessions.delete(s.id);
        event(s.id, "end", why);
        cancelConnect();
        // Closing from inside a native callback is deferred a tick: libdatachannel may still be in it.
        queueMicrotask(() => closeQuietly(...s.channels, pc));
      },
    };
    sessions.set(s.id, s);
    const cb = guarded((err) => s.end(`callback failed: ${String(err)}`));
    const signal = (rest: Omit<RtcSignal, "from" | "session">) =>
      void opts.signalling
        .send(s.peerNode, { session: s.id, ...rest })
        .catch((err) => s.end(`signalling: ${err}`));
    // A connection that never opens a channel is given up, so a stray offer cannot pin resources.
    cancelConnect = clock.setTimeout(() => {
      if (s.channels.size === 0) s.end("no data channel within the connect timeout");
    }, 15_000);
    pc.onLocalDescription(
      cb((sdp: string, type: string) => signal({ kind: type === "answer" ? "answer" : "offer", sdp })),
    );
    pc.onLocalCandidate(
      cb((candidate: string, mid: string) => signal({ kind: "candidate", candidate, mid })),
    );
    pc.onStateChange(
      cb((state: string) => (state === "failed" || state === "closed" ? s.end(`peer ${state}`) : undefined)),
    );
    pc.onDataChannel(
      cb((dc: DataChannel) => {
        s.channels.add(dc);
        if (dc.getLabel() !== CHANNEL_LABEL) return s.end(`unexpected channel ${dc.getLabel()}`);
        serveChannel(s, dc);
      }),
    );
    pc.setRemoteDescription(sig.sdp ?? "", "offer");
  }

  const off = opts.signalling.onSignal((sig, fingerprint) => {
    const s = sessions.get(sig.session);
    if (sig.kind === "offer") {
      if (!s) accept(sig, fingerprint);
      return;
    }
    // Only the peer that made the offer may continue its session.
    if (!s || s.fingerprint !== fingerprint) return;
    if (sig.kind === "candidate" && sig.candidate && sig.mid !== undefined) {
      try {
        s.pc.addRemoteCandidate(sig.candidate, sig.mid);
      } catch (err) {
        event(s.id, "bad-candidate", String(err));
      }
    } else if (sig.kind === "bye") s.end("peer said bye");
  });

  return {
    get sessions() {
      return sessions.size;
    },
    async close() {
      off();
      for (const s of [...sessions.values()]) s.end("server closing");
      await Bun.sleep(0);
    },
  };
}
