// FedAvg as `kiana run` runs it: once the mesh has joined, the hub coordinates rounds (on request or
// every fedavg.roundMinutes) and records each released model on the chain; nodes and satellites train
// on their own example store and keep the model they are sent under <data>/fedavg. The current model
// is offered to the voice pipeline through current()/onModel()/verifier(): a satellite scores each
// wake detection with verifier() and drops those below 0.5, and adds the detections it heard, labelled
// by what followed, to `examples` (src/voice/satellite/wake-fedavg.ts).
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { AdminFedavg } from "../admin/fedavg-routes.ts";
import type { BlockFilter, BlockRowView } from "../chain/view.ts";
import type { KianaConfig } from "../config/index.ts";
import { describeError, kianaError } from "../errors.ts";
import type { RoundRow, StoredModel } from "../fedavg/index.ts";
import { certificateFingerprint } from "../identity/enrolment.ts";
import type { NodeKeys } from "../identity/node-keys.ts";
import type { MeshNode } from "../mesh/mesh-node.ts";
import { writeFileAtomic } from "../platform/atomic-file.ts";
import { type Clock, systemClock } from "../platform/clock.ts";
import type { HealthRegistry } from "../platform/health.ts";
import { capabilityLogger, type Logger } from "../platform/log.ts";
import type { Store } from "../store/index.ts";
import { safeMembership } from "./chain-node.ts";

/** The only task trained so far: the wake-word verifier on openWakeWord embedding windows. */
export const FEDAVG_TASK = "wake";
const ROUNDS_FILE = "rounds.json";
/** Rounds kept on disk and shown; older ones stay on the chain as model-release blocks. */
const ROUNDS_KEPT = 200;

export interface FedavgServiceDeps {
  store: Store;
  keys: NodeKeys;
  log: Logger;
  health: HealthRegistry;
  mesh: () => MeshNode | undefined;
  /** Releases are appended to this device's log and read back from every author's (chain-node.ts). */
  chain: {
    chainLog: { append(type: string, body: Uint8Array): unknown };
    view(): { list(filter: BlockFilter): BlockRowView[] };
  };
  clock?: Clock;
}

export type FedavgService = Awaited<ReturnType<typeof startFedavg>>;

export async function startFedavg(config: Readonly<KianaConfig>, o: FedavgServiceDeps) {
  const [fa, { apiToken }] = await Promise.all([import("../fedavg/index.ts"), import("./model-service.ts")]);
  const f = config.fedavg;
  const clock = o.clock ?? systemClock;
  const log = capabilityLogger(o.log, "fedavg");
  const dir = join(config.dataDir, "fedavg");
  mkdirSync(dir, { recursive: true });
  // The certificate's role, as the mesh uses it: the config's role is only the unenrolled default.
  const role = safeMembership(config.dataDir)?.certificate.role ?? config.node.role;
  const isHub = role === "hub";
  const spec = { kind: f.model, inputs: fa.WAKE_FEATURES, hidden: f.model === "mlp" ? f.hidden : 0 };
  const P = fa.paramCount(spec);
  const examples = fa.createExampleStore({ db: o.store.db });
  const modelPath = join(dir, isHub ? "global.kfm" : "model.kfm");
  const loaded = fa.loadModel(modelPath, P);
  if (loaded.problem) log.warn({ problem: loaded.problem }, "stored FedAvg model ignored; starting afresh");
  let current: StoredModel | null = loaded.model;
  const listeners = new Set<(m: StoredModel) => void>();
  const adopt = (m: StoredModel) => {
    current = m;
    for (const l of listeners) {
      try {
        l(m);
      } catch (err) {
        log.warn({ err: describeError(err) }, "a FedAvg model listener failed");
      }
    }
  };
  const maxClients = Math.max(f.maxClients, f.minClients);
  if (f.maxClients < f.minClients)
    log.warn(
      { minClients: f.minClients, maxClients: f.maxClients },
      "fedavg.maxClients below minClients; using minClients",
    );

  const rounds: RoundRow[] = isHub ? readRounds(join(dir, ROUNDS_FILE), log) : [];
  let nextRound = (rounds.at(-1)?.round ?? 0) + 1;
  let running: { round: number; startedAt: number } | null = null;
  let transport: ReturnType<typeof fa.createMeshFedavgTransport> | undefined;
  let coordinator: import("../fedavg/index.ts").Coordinator | undefined;
  let client: import("../fedavg/index.ts").FedavgClient | undefined;
  let coordinatorFp: string | null = isHub ? o.keys.fingerprint : null;
  const fingerprintOf = (c: { signingKey: Uint8Array }) => certificateFingerprint(c);

  function onRelease(record: import("../fedavg/index.ts").ReleaseRecord, params: Float32Array) {
    try {
      adopt(fa.saveModel(modelPath, record.version, params));
      o.chain.chainLog.append(fa.MODEL_RELEASE_TYPE, fa.releaseBlockBody(FEDAVG_TASK, spec, record));
      log.info(
        {
          round: record.round,
          version: record.version,
          hash: record.hash,
          ...record.metrics,
          participants: record.participants,
        },
        "fedavg model released",
      );
    } catch (err) {
      log.error(
        { err: describeError(err), round: record.round },
        "the released FedAvg model could not be kept",
      );
    }
  }

  /** Builds the coordinator or client once the mesh has joined (and, for a client, knows its hub). */
  function attach(): boolean {
    const mesh = o.mesh();
    const direct = mesh?.direct();
    const transfers = mesh?.transfers();
    if (!mesh || !direct || !transfers) return false;
    const roster = () => mesh.roster();
    const hub = isHub ? undefined : roster().find((c) => c.role === "hub");
    if (!isHub && !hub) return false;
    transport = fa.createMeshFedavgTransport({
      self: o.keys.fingerprint,
      direct,
      transfers,
      onFileReceived: (h) => mesh.onFileReceived(h),
      roster,
      outboxDir: join(dir, "outbox"),
      // The largest float32 update or model of this spec, with room for headers.
      maxBulkBytes: 4 * P + 64 * 1024,
      clock,
      log,
    });
    if (isHub) {
      coordinator = fa.createCoordinator({
        transport,
        clock,
        joinMs: f.joinSeconds * 1000,
        revealMs: f.revealSeconds * 1000,
        onRelease,
      });
    } else if (hub) {
      coordinatorFp = fingerprintOf(hub);
      client = fa.createFedavgClient({
        transport,
        coordinator: coordinatorFp,
        examples: () => examples.list(FEDAVG_TASK, fa.WAKE_FEATURES, f.maxExamples),
        keys: o.keys,
        agreementKeyOf: (fp) => roster().find((c) => fingerprintOf(c) === fp)?.agreementKey,
        // Per device, stable across restarts: shuffles differ between devices, not between runs.
        seed: Number.parseInt(o.keys.fingerprint.slice(0, 8), 16),
        onModel(version, params) {
          try {
            const m = fa.saveModel(modelPath, version, params);
            adopt(m);
            log.info({ version, hash: m.hash }, "fedavg model received");
          } catch (err) {
            log.error({ err: describeError(err) }, "the received FedAvg model could not be stored");
          }
        },
        onRefused: (round, reason) => log.warn({ round, reason }, "fedavg update refused by the hub"),
      });
    }
    log.info(
      { role: isHub ? "coordinator" : "client", coordinator: coordinatorFp, params: P },
      "fedavg ready",
    );
    return true;
  }
  let stopAttach = () => {};
  if (!attach()) {
    stopAttach = clock.setInterval(() => {
      if (attach()) stopAttach();
    }, 1000);
  }

  function startRound(): { round: number } {
    if (!isHub) throw kianaError("FEDAVG_NOT_READY", "only the hub coordinates FedAvg rounds");
    const mesh = o.mesh();
    if (!coordinator || !mesh)
      throw kianaError("FEDAVG_NOT_READY", "FedAvg has not joined the fleet's mesh yet");
    if (running) throw kianaError("FEDAVG_ROUND_RUNNING", `round ${running.round} is still running`);
    const invite = mesh
      .roster()
      .map(fingerprintOf)
      .filter((fp) => fp !== o.keys.fingerprint);
    const round = nextRound++;
    const startedAt = clock.now();
    running = { round, startedAt };
    const settings = {
      round,
      modelVersion: current?.version ?? 0,
      spec,
      minClients: f.minClients,
      maxClients,
      deadlineAt: startedAt + f.deadlineSeconds * 1000,
      epochs: f.epochs,
      batchSize: f.batchSize,
      learningRate: f.learningRate,
      optimizer: "adam" as const,
      clipNorm: f.clipNorm,
      encoding: f.encoding,
      chunk: 256,
      maxExamples: f.maxExamples,
      secure: f.secureAggregation,
      fixedPointScale: fa.fixedPointScale(maxClients, f.maxExamples, f.clipNorm),
      noiseMultiplier: f.noiseMultiplier,
    };
    const global = current?.params ?? fa.initParams(spec, fa.createRng(1));
    log.info({ round, invited: invite.length, modelVersion: settings.modelVersion }, "fedavg round started");
    void coordinator
      .runRound(settings, global, invite)
      .then((status) => {
        const row = fa.roundRow(status, startedAt, clock.now());
        rounds.push(row);
        rounds.splice(0, Math.max(0, rounds.length - ROUNDS_KEPT));
        writeFileAtomic(join(dir, ROUNDS_FILE), JSON.stringify(rounds));
        if (status.phase === "failed")
          o.health.set({
            code: "FEDAVG_ROUND_FAILED",
            severity: "warning",
            message: `FedAvg round ${round} failed: ${status.failure ?? "unknown reason"}`,
            hint: "fedavg.minClients devices must be online with examples; `kiana fedavg status` shows the rounds.",
          });
        else o.health.clear("FEDAVG_ROUND_FAILED");
        log.info({ ...row, refusals: row.refusals.length }, "fedavg round ended");
      })
      .catch((err) => log.error({ err: describeError(err), round }, "fedavg round crashed"))
      .finally(() => {
        running = null;
      });
    return { round };
  }

  const stopSchedule =
    isHub && f.roundMinutes > 0
      ? clock.setInterval(() => {
          try {
            startRound();
          } catch (err) {
            log.info({ err: describeError(err) }, "scheduled FedAvg round skipped");
          }
        }, f.roundMinutes * 60_000)
      : () => {};

  const view = (): import("../fedavg/index.ts").FedavgView => {
    const live = running && coordinator?.history().at(-1);
    const shown = live && running ? [...rounds, fa.roundRow(live, running.startedAt, null)] : rounds;
    return {
      enabled: true,
      role: isHub ? "coordinator" : "client",
      ready: transport !== undefined,
      task: FEDAVG_TASK,
      spec,
      model: current && { version: current.version, hash: current.hash },
      examples: examples.count(FEDAVG_TASK),
      coordinator: coordinatorFp,
      rounds: shown.slice(-50),
      releases: fa.releaseRows(o.chain.view().list({ type: fa.MODEL_RELEASE_TYPE, limit: 50 })),
    };
  };

  const admin: AdminFedavg = {
    view,
    startRound: isHub ? startRound : undefined,
    // The token `kiana fedavg` on this device sends (models.apiToken or <data>/api-token).
    apiToken: apiToken(config),
  };
  return {
    admin,
    /** The global model this device holds, or null before the first release reached it. */
    current: () => current,
    onModel(listener: (m: StoredModel) => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    /** Scores an embedding window with the current model (probability of the wake word). */
    verifier: () => (current ? fa.wakeVerifier(spec, current.params) : null),
    /** This device's own training examples, which the voice pipeline fills and the client trains on. */
    examples,
    stop() {
      stopAttach();
      stopSchedule();
      coordinator?.stop();
      client?.stop();
      transport?.close();
    },
  };
}

function readRounds(path: string, log: Logger): RoundRow[] {
  try {
    const value = JSON.parse(readFileSync(path, "utf8")) as unknown;
    return Array.isArray(value) ? (value as RoundRow[]) : [];
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT")
      log.warn({ err: describeError(err) }, "FedAvg round history unreadable; starting a new one");
    return [];
  }
}
