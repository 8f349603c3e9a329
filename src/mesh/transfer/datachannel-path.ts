// Receiver side of the data-channel path: offers a peer connection over signed MQTT signalling, asks
// for the file from the resume point on an ordered reliable channel, writes in order, acknowledges.
import { randomBytes } from "node:crypto";
import { describeError, isKianaError, kianaError } from "../../errors.ts";
import { type Clock, systemClock } from "../../platform/clock.ts";
import { createAttemptOutcome } from "./attempt.ts";
import {
  ACK_EVERY,
  CHANNEL_LABEL,
  type Control,
  closeQuietly,
  type DataChannel,
  type DataChannelModule,
  guarded,
  messageBytes,
  type PeerConnection,
  parseControl,
  type RtcOptions,
  rtcConfig,
} from "./datachannel-common.ts";
import type { FetchRequest, TransferPath } from "./ports.ts";
import type { RtcSignalling } from "./signalling.ts";
import { createStallWatch, DEFAULT_STALL_MS, type StallWatch } from "./stall.ts";

export interface DataChannelPathOptions {
  /** Usually `() => registry.load("datachannel")`; a failure makes this path unavailable, not fatal. */
  loadModule: () => Promise<unknown>;
  signalling: RtcSignalling;
  rtc?: RtcOptions;
  clock?: Clock;
  /** How long ICE + DTLS + SCTP may take before the path is given up. */
  connectTimeoutMs?: number;
  /** No bytes for this long, once connected: TRANSFER_STALLED, so the caller resumes elsewhere. */
  stallMs?: number;
}

export function createDataChannelPath(opts: DataChannelPathOptions): TransferPath {
  const clock = opts.clock ?? systemClock;
  // Strong references to live native objects, for the same garbage-collection reason as the server.
  const live = new Set<PeerConnection | DataChannel>();

  async function load(): Promise<DataChannelModule> {
    try {
      const mod = (await opts.loadModule()) as Partial<DataChannelModule>;
      if (typeof mod?.PeerConnection !== "function") throw new Error("module has no PeerConnection");
      return mod as DataChannelModule;
    } catch (cause) {
      throw kianaError(
        "TRANSFER_PATH_UNAVAILABLE",
        `data channels unavailable: ${describeError(cause)}`,
        { path: "datachannel", engineCode: isKianaError(cause) ? cause.code : null },
        cause,
      );
    }
  }

  async function fetch({ offer, peer, sink, signal }: FetchRequest): Promise<void> {
    signal.throwIfAborted();
    if (sink.offset === offer.size) return;
    const mod = await load();
    const session = randomBytes(16).toString("hex");
    const outcome = createAttemptOutcome("datachannel", peer.node);
    const finish = outcome.finish;
    const cb = guarded((err) => finish(err));
    const pc = new mod.PeerConnection(`kiana-${session.slice(0, 8)}`, rtcConfig(opts.rtc));
    live.add(pc);
    let dc: DataChannel | undefined;
    const queue: Uint8Array[] = [];
    let writing = false;
    /** Settles when the write in progress is done: nothing may write once fetch has returned. */
    let draining = Promise.resolve();
    let lastAck = sink.offset;
    let connected = false;
    let answered = false;

    const send = (c: Control) => dc?.sendMessage(JSON.stringify(c));
    const stallError = (ms: number) =>
      finish(
        kianaError(
          "TRANSFER_STALLED",
          `data channel stalled: no bytes for ${Math.round(ms)} ms at ${sink.offset}/${offer.size}`,
          { path: "datachannel", offset: sink.offset },
        ),
      );
    // Armed once the channel opens; connecting has its own timeout.
    let stall: StallWatch | undefined;
    const cancelConnect = clock.setTimeout(() => {
      if (!connected)
        finish(
          kianaError(
            "TRANSFER_PATH_UNAVAILABLE",
            `no data channel to ${peer.node} within the connect timeout`,
            {
              path: "datachannel",
            },
          ),
        );
    }, opts.connectTimeoutMs ?? 10_000);

    // Writes happen off the native callback, one at a time, in arrival order.
    async function drain() {
      if (writing) return;
      writing = true;
      const idle = Promise.withResolvers<void>();
      draining = idle.promise;
      try {
        for (let next = queue.shift(); next && !outcome.finished; next = queue.shift()) {
          await sink.append(next);
          stall?.progress();
          if (sink.offset - lastAck >= ACK_EVERY || sink.offset === offer.size) {
            lastAck = sink.offset;
            send({ t: "ack", offset: sink.offset });
          }
        }
        if (sink.offset === offer.size) finish();
      } catch (err) {
        finish(err);
      } finally {
        writing = false;
        idle.resolve();
      }
    }

    const onAbort = () => finish(signal.reason ?? kianaError("TRANSFER_FAILED", "aborted"));
    signal.addEventListener("abort", onAbort, { once: true });
    const off = opts.signalling.onSignal((sig, fingerprint) => {
      if (sig.session !== session || fingerprint !== peer.fingerprint) return;
      try {
        if (sig.kind === "answer" && sig.sdp) {
          // At-least-once delivery may repeat the answer; a second one would fail the connection.
          if (answered) return;
          answered = true;
          pc.setRemoteDescription(sig.sdp, "answer");
        } else if (sig.kind === "candidate" && sig.candidate && sig.mid !== undefined)
          pc.addRemoteCandidate(sig.candidate, sig.mid);
        else if (sig.kind === "bye")
          finish(kianaError("TRANSFER_PATH_UNAVAILABLE", `${peer.node} refused the data channel`));
      } catch (err) {
        finish(
          kianaError("TRANSFER_PATH_UNAVAILABLE", `bad signal from ${peer.node}: ${describeError(err)}`),
        );
      }
    });
    const signalPeer = (rest: {
      kind: "offer" | "candidate" | "bye";
      sdp?: string;
      candidate?: string;
      mid?: string;
    }) => opts.signalling.send(peer.node, { session, ...rest }).catch((err) => finish(err));

    pc.onLocalDescription(cb((sdp: string) => void signalPeer({ kind: "offer", sdp })));
    pc.onLocalCandidate(
      cb((candidate: string, mid: string) => void signalPeer({ kind: "candidate", candidate, mid })),
    );
    pc.onStateChange(
      cb((state: string) => {
        if (state === "failed" || state === "closed")
          finish(
            kianaError("TRANSFER_FAILED", `peer connection to ${peer.node} ${state}`, {
              path: "datachannel",
            }),
          );
      }),
    );
    dc = pc.createDataChannel(CHANNEL_LABEL);
    live.add(dc);
    const channel = dc;
    channel.onOpen(
      cb(() => {
        connected = true;
        cancelConnect();
        stall = createStallWatch({ clock, stallMs: opts.stallMs ?? DEFAULT_STALL_MS, onStall: stallError });
        send({ t: "start", id: offer.id, offset: sink.offset });
      }),
    );
    channel.onClosed(
      cb(() =>
        finish(kianaError("TRANSFER_FAILED", `data channel to ${peer.node} closed`, { path: "datachannel" })),
      ),
    );
    channel.onError(cb((err: string) => finish(kianaError("TRANSFER_FAILED", `data channel error: ${err}`))));
    channel.onMessage(
      cb((msg: string | Buffer | ArrayBuffer) => {
        const m = messageBytes(msg);
        if (typeof m !== "string") {
          if (outcome.finished) return;
          queue.push(m);
          void drain();
          return;
        }
        const c = parseControl(m);
        finish(
          kianaError(
            "TRANSFER_FAILED",
            `${peer.node}: ${c?.t === "error" ? c.message : "unexpected message"}`,
          ),
        );
      }),
    );

    try {
      await outcome.promise;
    } finally {
      await draining;
      cancelConnect();
      stall?.stop();
      off();
      signal.removeEventListener("abort", onAbort);
      void signalPeer({ kind: "bye" });
      // Deferred a tick: finish() may run inside a native callback of these very objects.
      await Bun.sleep(0);
      closeQuietly(channel, pc);
      live.delete(channel);
      live.delete(pc);
    }
  }

  return { name: "datachannel", fetch };
}
