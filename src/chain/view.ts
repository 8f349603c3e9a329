// What the admin page and the JSON API show about the chain: plain values, so the chain's queries,
// its authority state and its sync counters can each fill their part without knowing the pages.

/** One block as listed: bodies that are not UTF-8 text are shown by size only. */
export interface BlockRowView {
  author: string;
  seq: number;
  /** ms since the epoch, the author's clock when it appended. */
  ts: number;
  type: string;
  /** The body as text when it decodes as UTF-8, else undefined. */
  text?: string;
  bytes: number;
  /** hex leaf hash */
  hash: string;
}

export interface BlockFilter {
  author?: string;
  type?: string;
  /** ms since the epoch, inclusive */
  since?: number;
  /** Full-text query over knowledge blocks (SQLite FTS5 syntax, words are ANDed). */
  text?: string;
  limit?: number;
  /** Continue after this block (newest first): the last row of the previous page. */
  before?: { ts: number; author: string; seq: number };
}

export interface ChainAuthorityStatus {
  validators: { fingerprint: string; self: boolean; sinceHeight: number }[];
  /** Signatures a checkpoint needs to be final: floor(n/2) + 1. */
  majority: number;
  /** The newest checkpoint proposal, final or not. */
  latest?: CheckpointView;
  /** The newest final checkpoint. */
  lastFinal?: CheckpointView;
  /** Proposals newer than lastFinal that are not final yet. */
  pending: number;
}

export interface CheckpointView {
  height: number;
  /** hex leaf hash of the proposal block */
  id: string;
  proposer: string;
  signers: number;
  final: boolean;
  ts: number;
  /** Number of logs whose heads it records. */
  heads: number;
}

export interface ChainAuthorView {
  author: string;
  length: number;
  signedLength: number;
  /** Trust in [0, 1] from confirm/dispute votes on its knowledge; 0.5 with no votes. */
  trust: number;
}
