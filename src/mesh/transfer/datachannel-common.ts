// What both ends of a data-channel transfer share: the slice of node-datachannel we use, the peer
// configuration (host candidates only unless STUN/TURN is configured), the control messages, and
// the guard every native callback goes through.
import type { DataChannel, PeerConnection, RtcConfig } from "node-datachannel";

/** The part of the node-datachannel module we use; it comes from the engine registry, never imported. */
export interface DataChannelModule {
  PeerConnection: new (peerName: string, config: RtcConfig) => PeerConnection;
}
export type { DataChannel, PeerConnection };

export interface RtcOptions {
  /**
   * STUN/TURN servers for peers on different networks, e.g. `stun:stun.lan:3478` or
   * `turn:user:pass@turn.lan:3478`. Empty (the default): host candidates only, LAN without internet.
   */
  iceServers?: string[];
  /** Local address for ICE sockets; tests pin 127.0.0.1 so nothing leaves loopback. */
  bindAddress?: string;
  portRangeBegin?: number;
  portRangeEnd?: number;
}

export function rtcConfig(opts: RtcOptions = {}): RtcConfig {
  return {
    iceServers: [...(opts.iceServers ?? [])],
    // Our chunks are at most MAX_CHUNK_SIZE; 256 KiB is what libdatachannel offers by default too.
    maxMessageSize: 256 * 1024,
    ...(opts.bindAddress ? { bindAddress: opts.bindAddress } : {}),
    ...(opts.portRangeBegin ? { portRangeBegin: opts.portRangeBegin } : {}),
    ...(opts.portRangeEnd ? { portRangeEnd: opts.portRangeEnd } : {}),
  };
}

export const CHANNEL_LABEL = "kiana-xfer";
/** Pause sending above this many bytes queued in libdatachannel; resume on the low-water callback. */
export const DEFAULT_HIGH_WATER = 4 * 1024 * 1024;
export const DEFAULT_LOW_WATER = 1024 * 1024;
/** Bytes the sender may be ahead of the receiver's acknowledged writes: bounds the receiver's queue. */
export const DEFAULT_WINDOW = 16 * 1024 * 1024;
/** The receiver acknowledges after this many bytes written. */
export const ACK_EVERY = 1024 * 1024;

export type Control =
  | { t: "start"; id: string; offset: number }
  | { t: "ack"; offset: number }
  | { t: "error"; message: string };

export function parseControl(text: string): Control | undefined {
  try {
    const c = JSON.parse(text) as Record<string, unknown>;
    if (c.t === "start" && typeof c.id === "string" && Number.isSafeInteger(c.offset))
      return { t: "start", id: c.id, offset: c.offset as number };
    if (c.t === "ack" && Number.isSafeInteger(c.offset)) return { t: "ack", offset: c.offset as number };
    if (c.t === "error" && typeof c.message === "string")
      return { t: "error", message: c.message.slice(0, 500) };
  } catch {
    // falls through: not a control message
  }
  return undefined;
}

/**
 * Wraps a callback that native code calls: an exception escaping into libdatachannel's thread
 * aborts the whole process, so every one is caught here and handed to `fail`, which must not throw.
 */
export function guarded(fail: (err: unknown) => void) {
  return <A extends unknown[]>(fn: (...args: A) => void) =>
    (...args: A): void => {
      try {
        fn(...args);
      } catch (err) {
        try {
          fail(err);
        } catch {
          // nothing may escape into native code
        }
      }
    };
}

/** A message from onMessage as bytes, without copying. */
export function messageBytes(msg: string | Buffer | ArrayBuffer): Uint8Array | string {
  if (typeof msg === "string") return msg;
  return msg instanceof ArrayBuffer
    ? new Uint8Array(msg)
    : new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength);
}

/** Closes without throwing: closing an already closed native object must not end a cleanup early. */
export function closeQuietly(...things: ({ close(): void } | undefined)[]): void {
  for (const t of things) {
    try {
      t?.close();
    } catch {
      // already closed
    }
  }
}
