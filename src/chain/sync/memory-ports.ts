// In-process implementations of the sync ports: a connected pair of message ports that counts bytes
// and can be cut (a partition), and map-backed author keys and peer scores.
import type { AuthorKeys, KnownAuthor, PeerScores, SyncPort } from "./ports.ts";
import { createQueuePort, type QueuePort } from "./queue-port.ts";

export interface LinkStats {
  frames: number;
  bytes: number;
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
  const stats = { a: { frames: 0, bytes: 0 }, b: { frames: 0, bytes: 0 } };
  const ends: QueuePort[] = [];
  const cut = () => {
    for (const end of ends) end.end();
  };
  const port = (other: () => QueuePort, counter: LinkStats) =>
    createQueuePort({
      send(frame) {
        counter.frames++;
        counter.bytes += frame.length;
        other().push(frame.slice());
      },
      close: cut,
      maxQueued: 10_000,
    });
  const a = port(() => b, stats.a);
  const b = port(() => a, stats.b);
  ends.push(a, b);
  return { a, b, stats, cut };
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
