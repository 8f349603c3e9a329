// The receiving side of a node: offers from enrolled peers are checked (size, free disk, a safe name
// inside the received folder) and fetched one at a time; a broken transfer is retried from its part file.
import { existsSync } from "node:fs";
import { extname, join } from "node:path";
import { describeError } from "../../errors.ts";
import type { Clock } from "../../platform/clock.ts";
import type { Logger } from "../../platform/log.ts";
import type { MessageTransport } from "../ports.ts";
import type { TransferOffer } from "./manifest.ts";
import type { Open, PathName, PeerRef, TransferPath } from "./ports.ts";
import { type Attempt, onFileOffered, receiveFile } from "./transfer.ts";

export interface ReceivedFile {
  from: string;
  /** The sender's signing-key fingerprint, from its signed offer. */
  fingerprint: string;
  name: string;
  bytes: number;
  sha256: string;
  /** The path that delivered the last bytes. */
  path: PathName | undefined;
  /** Where the file now lies. */
  file: string;
  attempts: Attempt[];
}

export interface ReceiveQueueOptions {
  transport: MessageTransport;
  fleet: string;
  node: string;
  open: Open;
  clock: Clock;
  log: Logger;
  paths: readonly TransferPath[];
  receivedDir: string;
  maxReceiveBytes: number;
  freeBytes: (dir: string) => number;
  /** Pauses before each retry of a whole transfer; the part file keeps what already arrived. */
  retryDelaysMs?: readonly number[];
  onReceived?: (file: ReceivedFile) => void;
}

/** Kept free on the disk after a file is received, so a transfer never fills it. */
export const DISK_RESERVE_BYTES = 64 * 1024 * 1024;
const MAX_PENDING = 16;

/**
 * A file name that stays inside the received folder: no separators, no leading dots, only a safe set
 * of characters, at most 120 of them. Never empty.
 */
export function safeFileName(name: string): string {
  const base = name.split(/[/\\]/).pop() ?? "";
  const cleaned = base
    .replace(/[^A-Za-z0-9._-]/g, "_")
    .replace(/^[.]+/, "")
    .slice(0, 120);
  return cleaned === "" ? "file" : cleaned;
}

export function createReceiveQueue(opts: ReceiveQueueOptions) {
  const { clock, log } = opts;
  const delays = opts.retryDelaysMs ?? [2000, 5000, 10_000];
  const seen = new Set<string>();
  let pending = 0;
  let chain = Promise.resolve();
  const ctl = new AbortController();
  let unsubscribe: (() => Promise<void>) | undefined;

  /** Counters for /metrics: every failed attempt round, every refused offer, every file received. */
  const stats = { received: 0, receivedBytes: 0, failed: 0, refusedOffers: 0 };
  const failed = (from: string, offer: TransferOffer, reason: string, extra: object = {}) => {
    stats.failed++;
    log.warn({ from, name: offer.name, bytes: offer.size, reason, ...extra }, "file transfer failed");
  };

  /** The destination for an offer; a second file of the same name gets its hash in the name. */
  function destination(offer: TransferOffer): string {
    const name = safeFileName(offer.name);
    const plain = join(opts.receivedDir, name);
    if (!existsSync(plain) || existsSync(`${plain}.part`)) return plain;
    const ext = extname(name);
    return join(
      opts.receivedDir,
      `${name.slice(0, name.length - ext.length)}-${offer.sha256.slice(0, 12)}${ext}`,
    );
  }

  function check(offer: TransferOffer, dest: string): string | undefined {
    if (offer.size > opts.maxReceiveBytes)
      return `${offer.size} bytes is over the limit of ${opts.maxReceiveBytes} (mesh.maxReceiveMb)`;
    if (existsSync(dest) && !existsSync(`${dest}.part`))
      return "a file of that name and content is already here";
    let free: number;
    try {
      free = opts.freeBytes(opts.receivedDir);
    } catch (err) {
      return `cannot read free disk space: ${describeError(err)}`;
    }
    if (free < offer.size + DISK_RESERVE_BYTES)
      return `only ${free} bytes free on disk, ${offer.size} needed plus a reserve of ${DISK_RESERVE_BYTES}`;
    return undefined;
  }

  async function receive(offer: TransferOffer, peer: PeerRef, dest: string): Promise<void> {
    const attempts: Attempt[] = [];
    for (let round = 0; ; round++) {
      try {
        const res = await receiveFile({
          offer,
          peer,
          dest,
          paths: opts.paths,
          clock,
          signal: ctl.signal,
          onAttempt: (a) => attempts.push(a),
        });
        const file: ReceivedFile = {
          from: peer.node,
          fingerprint: peer.fingerprint,
          name: offer.name,
          bytes: offer.size,
          sha256: offer.sha256,
          path: attempts.findLast((a) => a.error === undefined)?.path,
          file: res.path,
          attempts,
        };
        stats.received++;
        stats.receivedBytes += offer.size;
        log.info({ ...file, attempts: attempts.length, tried: attempts }, "file received");
        opts.onReceived?.(file);
        return;
      } catch (err) {
        if (ctl.signal.aborted) return;
        const delay = delays[round];
        failed(peer.node, offer, describeError(err), { tried: attempts, retryInMs: delay ?? null });
        if (delay === undefined) return;
        await new Promise<void>((resolve) => {
          const cancel = clock.setTimeout(resolve, delay);
          ctl.signal.addEventListener(
            "abort",
            () => {
              cancel();
              resolve();
            },
            { once: true },
          );
        });
        if (ctl.signal.aborted) return;
      }
    }
  }

  return {
    stats: () => ({ ...stats }),
    async start() {
      unsubscribe = await onFileOffered({
        transport: opts.transport,
        fleet: opts.fleet,
        node: opts.node,
        open: opts.open,
        onRefused: (detail) => {
          stats.refusedOffers++;
          log.warn({ detail }, "file offer refused");
        },
        handler: (a, sender) => {
          const { offer } = a;
          if (seen.has(offer.id)) return;
          seen.add(offer.id);
          if (pending >= MAX_PENDING) return failed(sender.node, offer, "too many transfers waiting");
          if (offer.size > opts.maxReceiveBytes) return failed(sender.node, offer, check(offer, "") ?? "");
          const peer: PeerRef = { ...sender, ...(a.httpUrl ? { httpUrl: a.httpUrl } : {}) };
          log.info(
            { from: sender.node, name: offer.name, bytes: offer.size, id: offer.id },
            "file offered to us",
          );
          pending++;
          // One transfer at a time: the disk and the link are shared, so free space is checked at the start.
          chain = chain
            .then(() => {
              if (ctl.signal.aborted) return;
              const dest = destination(offer);
              const why = check(offer, dest);
              if (why) return failed(sender.node, offer, why);
              return receive(offer, peer, dest);
            })
            .catch((err) => failed(sender.node, offer, describeError(err)))
            .finally(() => pending--);
        },
      });
    },
    async stop() {
      ctl.abort(new Error("stopping"));
      await unsubscribe?.().catch(() => {});
      await Promise.race([chain, Bun.sleep(2000)]);
    },
  };
}
