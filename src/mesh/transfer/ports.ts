// The interfaces file transfer needs: where received bytes go, what a path is, which files are
// shared, and the injected seal/open pair that makes every control message a signed envelope.
import type { TransferOffer } from "./manifest.ts";

/** Where received bytes go, strictly in order. */
export interface ChunkSink {
  /** Bytes written so far: where the next path resumes. */
  readonly offset: number;
  append(bytes: Uint8Array): Promise<void>;
}

/** The peer that shares the file. */
export interface PeerRef {
  /** Node name: its topics are `kiana/v1/<fleet>/<node>/...`. */
  node: string;
  /** Its signing-key fingerprint: HTTP tokens are addressed to it. */
  fingerprint: string;
  /** Base URL of its LAN HTTP server, when it runs one (`http://10.0.0.5:8470`). */
  httpUrl?: string;
}

export interface FetchRequest {
  offer: TransferOffer;
  peer: PeerRef;
  sink: ChunkSink;
  /** Aborted by the caller on a stall or shutdown; a path must then release everything and reject. */
  signal: AbortSignal;
}

export type PathName = "lan-http" | "datachannel" | "mqtt";

/** One way of moving the bytes, receiver side; resolves when sink.offset reaches offer.size. */
export interface TransferPath {
  readonly name: PathName;
  fetch(req: FetchRequest): Promise<void>;
}

export interface SharedFile {
  offer: TransferOffer;
  path: string;
  /** Fingerprints allowed to fetch; absent: any enrolled peer. */
  allow?: ReadonlySet<string>;
}

/** The files a node shares, looked up by transfer id. */
export interface FileCatalog {
  get(id: string): SharedFile | undefined;
}

/** Wraps a body in a signed envelope of `type` from this node. */
export type Seal = (type: string, body: Uint8Array) => Uint8Array;

export type Opened =
  | { ok: true; from: string; type: string; body: Uint8Array }
  | { ok: false; detail: string };

/** Opens a signed envelope from an enrolled peer; never throws on bad input. */
export type Open = (bytes: Uint8Array) => Opened;
