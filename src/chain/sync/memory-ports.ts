// In-process implementations of the sync ports: a connected pair of message ports that counts bytes
// and can be cut (a partition), and map-backed author keys and peer scores.
import { kianaError } from "../../errors.ts";
import type { AuthorKeys, KnownAuthor, PeerScores, SyncPort } from "./ports.ts";

export interface LinkStats {
  frames: number;
  bytes: number;
}

interface Inbox {
  frames: Uint8Array[];
  waiter?: (frame: Uint8Array | undefined) => void;
  closed: boolean;
}

/** Two ports wired to each other; frames are copied so neither side can change what the other holds. */
export function memoryPortPair(): {
  a: SyncPort;
  b: SyncPort;
  /** Bytes and frames sent by a (to b) and by b (to a). */
  stats: { a: LinkStats; b: LinkStats };
  /** Closes both ends, as a network partition or a dead peer would. */
  cut(): void;
} {
  const inboxes: [Inbox, Inbox] = [
    { frames: [], closed: false },
    { frames: [], closed: false },
  ];
  const stats = { a: { frames: 0, bytes: 0 }, b: { frames: 0, bytes: 0 } };
  const deliver = (to: Inbox, frame: Uint8Array | undefined) => {
    if (to.waiter) {
      const w = to.waiter;
      to.waiter = undefined;
      w(frame);
    } else if (frame) to.frames.push(frame);
  };
  const closeAll = () => {
    for (const box of inboxes) {
      box.closed = true;
      deliver(box, undefined);
    }
  };
  const port = (mine: Inbox, theirs: Inbox, counter: LinkStats): SyncPort => ({
    send(frame) {
      if (mine.closed || theirs.closed) throw kianaError("CHAIN_SYNC_UNAVAILABLE", "the sync link is closed");
      counter.frames++;
      counter.bytes += frame.length;
      deliver(theirs, frame.slice());
    },
    receive(timeoutMs) {
      const next = mine.frames.shift();
      if (next) return Promise.resolve(next);
      if (mine.closed) return Promise.resolve(undefined);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          mine.waiter = undefined;
          reject(kianaError("CHAIN_SYNC_UNAVAILABLE", `no answer from the peer within ${timeoutMs} ms`));
        }, timeoutMs);
        mine.waiter = (frame) => {
          clearTimeout(timer);
          resolve(frame);
        };
      });
    },
    close: closeAll,
  });
  return {
    a: port(inboxes[0], inboxes[1], stats.a),
    b: port(inboxes[1], inboxes[0], stats.b),
    stats,
    cut: closeAll,
  };
}

export function createMemoryAuthorKeys(initial: readonly KnownAuthor[] = []): AuthorKeys {
  const map = new Map(initial.map((a) => [a.author, a]));
  return { get: (author) => map.get(author), remember: (entry) => void map.set(entry.author, entry) };
}

export function createMemoryPeerScores(): PeerScores & { reasons(peer: string): string[] } {
  const scores = new Map<string, { score: number; last?: string; reasons: string[] }>();
  const entry = (peer: string) => {
    const e = scores.get(peer) ?? { score: 0, reasons: [] };
    scores.set(peer, e);
    return e;
  };
  return {
    received(peer, blocks) {
      entry(peer).score += Math.min(blocks, 1);
    },
    refused(peer, reason) {
      const e = entry(peer);
      e.score -= 10;
      e.reasons.push(reason);
      const first = e.last !== reason;
      e.last = reason;
      return first;
    },
    score: (peer) => scores.get(peer)?.score ?? 0,
    reasons: (peer) => [...(scores.get(peer)?.reasons ?? [])],
  };
}
