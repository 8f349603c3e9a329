// What chain sync needs from the outside: a message port to one peer (memory pair in tests, a
// WebSocket on the LAN), the public keys of log authors, and a place to keep each peer's score.

/** One connection to one peer, carrying whole frames in order. */
export interface SyncPort {
  send(frame: Uint8Array): void;
  /** The next frame, or undefined once the port is closed; rejects after `timeoutMs` of silence. */
  receive(timeoutMs: number): Promise<Uint8Array | undefined>;
  close(): void;
}

export interface KnownAuthor {
  author: string;
  signingKey: Uint8Array;
  /** Enrolment certificate text (what a peer needs to learn this author); absent for an unenrolled device. */
  certificate?: string;
  role?: string;
}

export interface AuthorKeys {
  get(author: string): KnownAuthor | undefined;
  /** Keeps an author whose certificate the caller has verified. */
  remember(entry: KnownAuthor): void;
}

export interface PeerScores {
  /** Verified blocks stored from `peer`. */
  received(peer: string, blocks: number): void;
  /** Lowers the peer's score; returns true the first time this reason is seen from it in a row. */
  refused(peer: string, reason: string): boolean;
  score(peer: string): number;
}
