// A SyncPort over any transport that delivers whole messages by callback (a WebSocket, a memory
// link): arriving frames wait in a bounded queue until `receive` takes them.
import { kianaError } from "../../errors.ts";
import type { SyncPort } from "./ports.ts";

export interface QueuePort extends SyncPort {
  /** Called by the transport for each arriving frame. */
  push(frame: Uint8Array): void;
  /** Called by the transport when it closed. */
  end(): void;
  readonly closed: boolean;
}

/**
 * `maxQueued` bounds what a peer can make this side hold: the credit window keeps honest peers
 * far below it, so exceeding it means a flood and closes the port.
 */
export function createQueuePort(opts: {
  send(frame: Uint8Array): void;
  close(): void;
  maxQueued?: number;
}): QueuePort {
  const maxQueued = opts.maxQueued ?? 256;
  const queue: Uint8Array[] = [];
  let waiter: ((frame: Uint8Array | undefined) => void) | undefined;
  let closed = false;
  const wake = (frame: Uint8Array | undefined) => {
    const w = waiter;
    waiter = undefined;
    w?.(frame);
  };
  const port: QueuePort = {
    get closed() {
      return closed;
    },
    push(frame) {
      if (closed) return;
      if (waiter) return wake(frame);
      if (queue.length >= maxQueued) return port.close();
      queue.push(frame);
    },
    end() {
      closed = true;
      wake(undefined);
    },
    send(frame) {
      if (closed) throw kianaError("CHAIN_SYNC_UNAVAILABLE", "the sync link is closed");
      opts.send(frame);
    },
    receive(timeoutMs) {
      const next = queue.shift();
      if (next) return Promise.resolve(next);
      if (closed) return Promise.resolve(undefined);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiter = undefined;
          reject(kianaError("CHAIN_SYNC_UNAVAILABLE", `no answer from the peer within ${timeoutMs} ms`));
        }, timeoutMs);
        waiter = (frame) => {
          clearTimeout(timer);
          resolve(frame);
        };
      });
    },
    close() {
      if (closed) return;
      port.end();
      opts.close();
    },
  };
  return port;
}
