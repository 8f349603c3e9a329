// One node's file transfers, composed: serves what it shares over every path it runs, and fetches
// each offer from an enrolled peer into its received folder, trying its paths in the configured order.
import { existsSync, mkdirSync, statfsSync, statSync } from "node:fs";
import { isAbsolute } from "node:path";
import { describeError, isKianaError, kianaError } from "../../errors.ts";
import type { NodeKeys } from "../../identity/node-keys.ts";
import type { Clock } from "../../platform/clock.ts";
import type { Logger } from "../../platform/log.ts";
import type { OpenOptions } from "../envelope.ts";
import type { MessageTransport } from "../ports.ts";
import { createEnvelopeAuth } from "./auth.ts";
import { createFileCatalog } from "./catalog.ts";
import type { DataChannelModule, RtcOptions } from "./datachannel-common.ts";
import { createDataChannelPath } from "./datachannel-path.ts";
import { createDataChannelServer } from "./datachannel-server.ts";
import { createLanHttpHandler, createLanHttpPath } from "./lan-http-path.ts";
import type { TransferOffer } from "./manifest.ts";
import { createMqttPath, startMqttTransferServer } from "./mqtt-path.ts";
import type { PathName, TransferPath } from "./ports.ts";
import { createReceiveQueue, type ReceivedFile } from "./receive-queue.ts";
import { createRtcSignalling } from "./signalling.ts";
import { sendFile } from "./transfer.ts";

export type { ReceivedFile } from "./receive-queue.ts";

export interface TransferServiceOptions {
  transport: MessageTransport;
  fleet: string;
  /** This node's name. */
  node: string;
  keys: Pick<NodeKeys, "sign" | "fingerprint">;
  nextSeq: () => number;
  clock: Clock;
  log: Logger;
  open: Omit<OpenOptions, "now" | "replay">;
  /** Where offered files are put; nothing is ever written outside it. */
  receivedDir: string;
  /** This node's LAN HTTP base URL, looked up at send time (addresses change); none: no LAN HTTP offer. */
  httpUrl?: () => string | undefined;
  /** Receiving paths in order of preference. */
  paths: readonly PathName[];
  /** The data-channel engine; when absent or failing, the data-channel path is left out. */
  loadDataChannel?: () => Promise<unknown>;
  rtc?: RtcOptions;
  maxReceiveBytes: number;
  /** Free bytes on the disk holding `dir`; tests replace it. */
  freeBytes?: (dir: string) => number;
  /** Whether `node` is an enrolled peer; unknown receivers are refused before anything is shared. */
  knows?: (node: string) => boolean;
  /** How long a sent file stays fetchable. */
  shareTtlMs?: number;
  onReceived?: (file: ReceivedFile) => void;
}

export interface TransferService {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The LAN HTTP route handler (`/kiana/v1/transfer/<id>`). */
  httpHandler(req: Request): Response;
  /** Shares the file at absolute `path` and offers it to node `to`. */
  send(to: string, path: string): Promise<TransferOffer>;
  /** The receiving paths in use, after the data-channel engine was tried. */
  readonly paths: readonly PathName[];
  /** Counters for /metrics. */
  stats(): TransferStats;
}

export interface TransferStats {
  offered: number;
  received: number;
  receivedBytes: number;
  failed: number;
  refusedOffers: number;
  requestsRefused: number;
}

const diskFree = (dir: string) => {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
};

export function createTransferService(opts: TransferServiceOptions): TransferService {
  const { transport, fleet, node, clock, log } = opts;
  const auth = createEnvelopeAuth({ keys: opts.keys, nextSeq: opts.nextSeq, clock, open: opts.open });
  const catalog = createFileCatalog();
  const closers: (() => Promise<void> | void)[] = [];
  const expiries = new Set<() => void>();
  let paths: TransferPath[] = [];
  let handler: ((req: Request) => Response) | undefined;
  const counters = { offered: 0, requestsRefused: 0 };
  let receiving: ReturnType<typeof createReceiveQueue> | undefined;
  const refused = (detail: unknown) => {
    counters.requestsRefused++;
    log.warn({ detail }, "transfer request refused");
  };

  async function loadDataChannel(): Promise<DataChannelModule | undefined> {
    if (!opts.paths.includes("datachannel")) return undefined;
    if (!opts.loadDataChannel) {
      log.info("data-channel path left out: no engine registry");
      return undefined;
    }
    try {
      const mod = (await opts.loadDataChannel()) as Partial<DataChannelModule>;
      if (typeof mod?.PeerConnection !== "function") throw new Error("module has no PeerConnection");
      return mod as DataChannelModule;
    } catch (err) {
      log.warn({ err: describeError(err) }, "data-channel path left out: the engine did not load");
      return undefined;
    }
  }

  return {
    stats: () => ({
      ...counters,
      ...(receiving?.stats() ?? { received: 0, receivedBytes: 0, failed: 0, refusedOffers: 0 }),
    }),
    get paths() {
      return paths.map((p) => p.name);
    },
    async start() {
      mkdirSync(opts.receivedDir, { recursive: true });
      handler = createLanHttpHandler({
        catalog,
        open: auth.opener(),
        audience: opts.keys.fingerprint,
        clock,
        onRefused: refused,
      });
      const common = { transport, fleet, node, seal: auth.seal };
      const mqttServer = await startMqttTransferServer({
        ...common,
        catalog,
        open: auth.opener(),
        onRefused: refused,
      });
      closers.push(() => mqttServer.close());
      const signalling = await createRtcSignalling({ ...common, open: auth.opener(), onRefused: refused });
      closers.push(() => signalling.close());
      const mod = await loadDataChannel();
      if (mod) {
        const server = createDataChannelServer({ module: mod, signalling, catalog, clock, rtc: opts.rtc });
        closers.push(() => server.close());
      }
      const all: Record<PathName, TransferPath | undefined> = {
        "lan-http": createLanHttpPath({ seal: auth.seal, clock }),
        datachannel: mod
          ? createDataChannelPath({ loadModule: async () => mod, signalling, rtc: opts.rtc, clock })
          : undefined,
        mqtt: createMqttPath({ ...common, open: auth.opener(), clock }),
      };
      paths = opts.paths.flatMap((name) => all[name] ?? []);
      const queue = createReceiveQueue({
        ...common,
        open: auth.opener(),
        clock,
        log,
        paths,
        receivedDir: opts.receivedDir,
        maxReceiveBytes: opts.maxReceiveBytes,
        freeBytes: opts.freeBytes ?? diskFree,
        ...(opts.onReceived ? { onReceived: opts.onReceived } : {}),
      });
      await queue.start();
      receiving = queue;
      closers.push(() => queue.stop());
      log.info({ paths: paths.map((p) => p.name) }, "file transfers ready");
    },
    async stop() {
      for (const cancel of expiries) cancel();
      expiries.clear();
      for (const close of closers.splice(0).reverse()) await Promise.resolve(close()).catch(() => {});
      handler = undefined;
    },
    httpHandler(req) {
      if (!handler) return new Response("file transfers are not running\n", { status: 503 });
      return handler(req);
    },
    async send(to, path) {
      if (!handler)
        throw kianaError("MESH_PEER_UNKNOWN", "this device has not joined the fleet's broker yet");
      if (opts.knows && !opts.knows(to))
        throw kianaError("MESH_PEER_UNKNOWN", `no enrolled device called ${to}`);
      if (!isAbsolute(path)) throw kianaError("TRANSFER_SOURCE_INVALID", `${path} is not an absolute path`);
      if (!existsSync(path) || !statSync(path).isFile())
        throw kianaError("TRANSFER_SOURCE_MISSING", `no file at ${path}`, { path });
      const httpUrl = opts.httpUrl?.();
      let offer: TransferOffer;
      try {
        offer = await sendFile({
          catalog,
          transport,
          fleet,
          node,
          seal: auth.seal,
          path,
          to,
          ...(httpUrl ? { httpUrl } : {}),
        });
      } catch (err) {
        if (isKianaError(err)) throw err;
        throw kianaError("TRANSFER_FAILED", `cannot offer ${path} to ${to}: ${describeError(err)}`, {}, err);
      }
      // Shared only for a while: an offer nobody fetches must not keep the file reachable for ever.
      const cancel = clock.setTimeout(() => {
        catalog.unshare(offer.id);
        expiries.delete(cancel);
      }, opts.shareTtlMs ?? 3_600_000);
      expiries.add(cancel);
      counters.offered++;
      log.info({ to, id: offer.id, name: offer.name, bytes: offer.size, httpUrl }, "file offered");
      return offer;
    },
  };
}
