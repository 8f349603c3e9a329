// Transfer orchestration: the sender shares a file and announces the offer; the receiver tries its
// paths in order, and when one fails or stalls the next resumes from the bytes already on disk. The
// file is renamed into place only when its sha256 matches.
import { describeError, isKianaError, kianaError } from "../../errors.ts";
import { type Clock, systemClock } from "../../platform/clock.ts";
import type { MessageTransport } from "../ports.ts";
import { fleetPattern, nodeTopic } from "../topics.ts";
import type { SharedFiles, ShareOptions } from "./catalog.ts";
import { parseOffer, type TransferOffer } from "./manifest.ts";
import type { ChunkSink, Open, PathName, PeerRef, Seal, TransferPath } from "./ports.ts";
import { openStaging } from "./staging.ts";
import { createStallWatch, DEFAULT_STALL_MS } from "./stall.ts";

export const OFFER_TYPE = "xfer.offer";
export const DEFAULT_FIRST_BYTE_MS = 15_000;

export interface Attempt {
  path: PathName;
  from: number;
  to: number;
  error?: string;
  code?: string;
}

export interface ReceiveFileOptions {
  offer: TransferOffer;
  peer: PeerRef;
  /** Final location; bytes go to `<dest>.part` until verified. */
  dest: string;
  /** In order of preference; e.g. [lan-http, datachannel, mqtt]. */
  paths: readonly TransferPath[];
  clock?: Clock;
  /** No new bytes for this long aborts the current path and moves to the next. */
  stallMs?: number;
  /** The limit for an attempt's first byte (connection setup included). */
  firstByteMs?: number;
  /** How many times the whole path list is tried before giving up. */
  rounds?: number;
  signal?: AbortSignal;
  onProgress?: (p: { path: PathName; received: number; size: number }) => void;
  onAttempt?: (a: Attempt) => void;
}

export interface ReceiveResult {
  path: string;
  attempts: Attempt[];
}

export async function receiveFile(opts: ReceiveFileOptions): Promise<ReceiveResult> {
  const { offer, peer } = opts;
  const clock = opts.clock ?? systemClock;
  const staging = await openStaging({ dest: opts.dest, offer });
  const attempts: Attempt[] = [];
  try {
    for (let round = 0; round < (opts.rounds ?? 1) && staging.offset < offer.size; round++) {
      for (const path of opts.paths) {
        if (staging.offset === offer.size) break;
        opts.signal?.throwIfAborted();
        const attempt = await tryPath(path);
        attempts.push(attempt);
        try {
          opts.onAttempt?.(attempt);
        } catch {
          // reporting must not change the transfer
        }
      }
    }
    if (staging.offset !== offer.size) {
      await staging.close();
      const tried = attempts.map((a) => `${a.path}: ${a.error ?? "ok"}`).join("; ");
      throw kianaError(
        "TRANSFER_FAILED",
        `transfer ${offer.id} (${offer.name}) from ${peer.node} stopped at ${staging.offset}/${offer.size} bytes; ${tried}`,
        { id: offer.id, offset: staging.offset, attempts },
      );
    }
    return { path: await staging.commit(), attempts };
  } catch (err) {
    await staging.close().catch(() => {});
    throw err;
  }

  async function tryPath(path: TransferPath): Promise<Attempt> {
    const from = staging.offset;
    const ctl = new AbortController();
    const onOuterAbort = () => ctl.abort(opts.signal?.reason);
    opts.signal?.addEventListener("abort", onOuterAbort, { once: true });
    const watch = (limitMs: number, what: string) =>
      createStallWatch({
        clock,
        stallMs: limitMs,
        onStall: (ms) => {
          const detail = `${path.name}: ${what} for ${Math.round(ms)} ms at ${staging.offset}`;
          ctl.abort(kianaError("TRANSFER_STALLED", detail, { path: path.name }));
        },
      });
    // Connecting (ICE, DTLS, a first HTTP response) gets its own, longer limit than a flow that stops.
    let stall = watch(opts.firstByteMs ?? DEFAULT_FIRST_BYTE_MS, "no first byte");
    let flowing = false;
    // Revoked when the attempt ends: a path that ignores its abort can never write under the next one.
    let revoked = false;
    let inflight = Promise.resolve();
    const sink: ChunkSink = {
      get offset() {
        return staging.offset;
      },
      async append(bytes) {
        if (revoked) throw kianaError("TRANSFER_FAILED", `${path.name} wrote after its attempt ended`);
        const write = staging.append(bytes);
        inflight = write.catch(() => {});
        await write;
        if (!flowing) {
          flowing = true;
          stall.stop();
          stall = watch(opts.stallMs ?? DEFAULT_STALL_MS, "no progress");
        }
        stall.progress();
        try {
          opts.onProgress?.({ path: path.name, received: staging.offset, size: offer.size });
        } catch {
          // reporting must not change the transfer
        }
      },
    };
    const aborted = new Promise<never>((_, reject) => {
      ctl.signal.addEventListener("abort", () => reject(ctl.signal.reason), { once: true });
    });
    aborted.catch(() => {});
    let failure: unknown;
    try {
      // Raced against the abort, so even a path that never settles cannot hang the transfer.
      await Promise.race([path.fetch({ offer, peer, sink, signal: ctl.signal }), aborted]);
    } catch (err) {
      failure = err ?? new Error("failed without a reason");
    } finally {
      revoked = true;
      // A write already started finishes before the next path reads the offset it resumes from.
      await inflight;
      stall.stop();
      if (!ctl.signal.aborted) ctl.abort(kianaError("TRANSFER_FAILED", "attempt over"));
      opts.signal?.removeEventListener("abort", onOuterAbort);
    }
    if (failure === undefined) return { path: path.name, from, to: staging.offset };
    if (opts.signal?.aborted) throw failure;
    return {
      path: path.name,
      from,
      to: staging.offset,
      error: describeError(failure),
      ...(isKianaError(failure) ? { code: failure.code } : {}),
    };
  }
}

export interface Announcement {
  offer: TransferOffer;
  /** The sender's LAN HTTP base URL, when it serves one. */
  httpUrl?: string;
}

export interface SendFileOptions {
  catalog: SharedFiles;
  transport: MessageTransport;
  fleet: string;
  /** This node. */
  node: string;
  seal: Seal;
  path: string;
  /** Receiving node name. */
  to: string;
  share?: ShareOptions;
  httpUrl?: string;
}

/** Shares the file and announces it to `to` on `kiana/v1/<fleet>/<node>/xfer-offer/<to>`. */
export async function sendFile(opts: SendFileOptions): Promise<TransferOffer> {
  const offer = await opts.catalog.share(opts.path, opts.share);
  const body: Announcement = { offer, ...(opts.httpUrl ? { httpUrl: opts.httpUrl } : {}) };
  const bytes = opts.seal(OFFER_TYPE, new TextEncoder().encode(JSON.stringify(body)));
  await opts.transport.publish(nodeTopic(opts.fleet, opts.node, "xfer-offer", opts.to), bytes, { qos: 1 });
  return offer;
}

/** Calls `handler` for each verified offer addressed to `node`; bad ones go to `onRefused`. */
export async function onFileOffered(opts: {
  transport: MessageTransport;
  fleet: string;
  node: string;
  open: Open;
  handler: (a: Announcement, sender: { node: string; fingerprint: string }) => void;
  onRefused?: (detail: string) => void;
}): Promise<() => Promise<void>> {
  nodeTopic(opts.fleet, opts.node);
  const refuse = (detail: string) => {
    try {
      opts.onRefused?.(detail);
    } catch {
      // reporting must not break the subscription
    }
  };
  return opts.transport.subscribe(
    fleetPattern(opts.fleet, "+", "xfer-offer", opts.node),
    (topic, payload) => {
      const opened = opts.open(payload);
      if (!opened.ok) return refuse(`offer refused: ${opened.detail}`);
      if (opened.type !== OFFER_TYPE) return refuse(`message of type ${opened.type} ignored`);
      try {
        const raw = JSON.parse(new TextDecoder().decode(opened.body)) as {
          offer?: unknown;
          httpUrl?: unknown;
        };
        const offer = parseOffer(raw.offer);
        const httpUrl =
          typeof raw.httpUrl === "string" && /^http:\/\/[^/]+$/.test(raw.httpUrl) ? raw.httpUrl : undefined;
        opts.handler(
          { offer, ...(httpUrl ? { httpUrl } : {}) },
          { node: topic.split("/")[3] ?? "", fingerprint: opened.from },
        );
      } catch (err) {
        refuse(`offer from ${opened.from}: ${describeError(err)}`);
      }
    },
  );
}
