// FedAvg over the enrolled mesh: control messages as end-to-end encrypted direct messages (type
// `fedavg`), models and updates as bulk file transfers, never inside an MQTT message. Peers are named
// by fingerprint here and by node name on the mesh; the roster maps one to the other.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Certificate, certificateFingerprint } from "../../identity/enrolment.ts";
import type { DirectMessaging } from "../../mesh/direct-queue.ts";
import type { ReceivedFile, TransferService } from "../../mesh/transfer/index.ts";
import type { Clock } from "../../platform/clock.ts";
import type { Logger } from "../../platform/log.ts";
import type { FedavgTransport } from "../ports.ts";

export const FEDAVG_MESSAGE_TYPE = "fedavg";
/** Bulk files are named by content, so a model sent to five devices is written and shared once. */
const BULK_NAME = /^fedavg-[0-9a-f]{16}\.bin$/;
/** Offered files stay fetchable for the transfer service's share TTL (1 h); older ones are removed. */
const OUTBOX_KEEP_MS = 3_600_000;

export interface MeshFedavgOptions {
  /** This device's fingerprint. */
  self: string;
  direct: Pick<DirectMessaging, "send" | "onMessage">;
  transfers: Pick<TransferService, "send">;
  onFileReceived(handler: (file: ReceivedFile) => void): () => void;
  /** Enrolled devices: maps fingerprints to the node names the mesh addresses. */
  roster(): readonly Certificate[];
  /** Where outgoing models and updates are written while they are offered. */
  outboxDir: string;
  /** Received bulk files larger than this are deleted unread. */
  maxBulkBytes: number;
  clock: Clock;
  log: Logger;
}

export function createMeshFedavgTransport(opts: MeshFedavgOptions): FedavgTransport & { close(): void } {
  const { log } = opts;
  mkdirSync(opts.outboxDir, { recursive: true });

  const nameOf = (fingerprint: string): string => {
    const cert = opts.roster().find((c) => certificateFingerprint(c) === fingerprint);
    if (!cert) throw new Error(`fedavg: no enrolled device with fingerprint ${fingerprint}`);
    return cert.name;
  };

  const pruneOutbox = () => {
    const cutoff = opts.clock.now() - OUTBOX_KEEP_MS;
    for (const f of readdirSync(opts.outboxDir)) {
      const path = join(opts.outboxDir, f);
      try {
        if (statSync(path).mtimeMs < cutoff) rmSync(path, { force: true });
      } catch {
        // Gone already: another send pruned it.
      }
    }
  };

  // One subscription for every listener: a received file is read, then deleted, exactly once.
  type Handlers = Parameters<FedavgTransport["listen"]>[0];
  const handlers = new Set<Handlers>();
  const offMessages = opts.direct.onMessage((from, type, payload) => {
    if (type !== FEDAVG_MESSAGE_TYPE) return;
    for (const h of handlers) h.control(certificateFingerprint(from), payload);
  });
  const offFiles = opts.onFileReceived((file) => {
    if (!BULK_NAME.test(file.name)) return;
    let bytes: Uint8Array | undefined;
    try {
      // Removed once read: the received folder must not fill up with every round's updates.
      if (file.bytes <= opts.maxBulkBytes) bytes = new Uint8Array(readFileSync(file.file));
      else log.warn({ from: file.from, bytes: file.bytes }, "fedavg bulk file too large; deleted unread");
    } catch (err) {
      log.warn({ from: file.from, err: (err as Error).message }, "fedavg bulk file unreadable");
    } finally {
      rmSync(file.file, { force: true });
    }
    if (bytes) for (const h of handlers) h.bulk(file.fingerprint, bytes);
  });

  return {
    self: opts.self,
    async send(to, control) {
      await opts.direct.send(nameOf(to), FEDAVG_MESSAGE_TYPE, control);
    },
    async sendBulk(to, bytes) {
      const name = nameOf(to);
      pruneOutbox();
      const hash = createHash("sha256").update(bytes).digest("hex").slice(0, 16);
      const path = join(opts.outboxDir, `fedavg-${hash}.bin`);
      if (!existsSync(path)) writeFileSync(path, bytes);
      await opts.transfers.send(name, path);
    },
    listen(h) {
      handlers.add(h);
      return () => handlers.delete(h);
    },
    close() {
      handlers.clear();
      offMessages();
      offFiles();
    },
  };
}
