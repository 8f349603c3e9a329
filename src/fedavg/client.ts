// A device's side of a round: on an announcement whose model bytes match the announced hash it
// joins; once the cohort is fixed it trains on its own examples, clips, adds DP noise, quantises or
// masks, and sends only that update. Raw examples are read from `examples()` and never leave here.
import {
  type ControlMessage,
  decodeControl,
  decodeModel,
  encodeControl,
  isModelBytes,
  type RoundSettings,
  sha256Hex,
} from "./messages.ts";
import { paramCount } from "./model.ts";
import type { FedavgTransport } from "./ports.ts";
import { addGaussianNoise, clientNoiseStd, clipL2 } from "./privacy.ts";
import { createRng } from "./rng.ts";
import { type MaskKeys, type MaskParty, maskUpdate, pairSeed, toFixedPoint } from "./secure-agg.ts";
import { delta, type Example, evaluate, train } from "./trainer.ts";
import { encodeUpdate, type UpdateSource } from "./update-codec.ts";

export interface FedavgClientOptions {
  transport: FedavgTransport;
  /** Only the coordinator's messages are acted on. */
  coordinator: string;
  /** This device's examples, read when a round needs them (the SQLite example store in the product). */
  examples(): readonly Example[];
  keys: MaskKeys;
  /** A cohort member's certified agreement key, from the roster, never from the coordinator. */
  agreementKeyOf(fingerprint: string): Uint8Array | undefined;
  /** Seeds shuffles and DP noise; mixed with the round number. */
  seed: number;
  onModel?(version: number, params: Float32Array): void;
  onRefused?(round: number, reason: string): void;
  /** Test hook: skip sending the update (a device that drops out after joining). */
  dropBeforeUpdate?: (round: number) => boolean;
}

export interface FedavgClient {
  /** The latest global model this device holds. */
  current(): { version: number; params: Float32Array } | null;
  stop(): void;
}

interface Pending {
  settings: RoundSettings;
  global: Float32Array | null;
  cohort: string[] | null;
}

export function createFedavgClient(opts: FedavgClientOptions): FedavgClient {
  const { transport } = opts;
  const self = transport.self;
  let current: { version: number; params: Float32Array } | null = null;
  let pending: Pending | null = null;
  // Model bytes may arrive before or after their control message; kept by hash until matched.
  const models = new Map<string, Uint8Array>();
  let releaseWanted: { version: number; hash: string; params: number } | null = null;
  const send = (m: ControlMessage) =>
    transport.send(opts.coordinator, encodeControl(m)).catch(() => undefined);

  const step = () => {
    if (releaseWanted) {
      const bytes = models.get(releaseWanted.hash);
      if (bytes) {
        const d = decodeModel(bytes, releaseWanted.params);
        if (d.ok && d.version === releaseWanted.version) {
          current = { version: d.version, params: d.params };
          opts.onModel?.(d.version, d.params);
        }
        // The next round's announcement names the same bytes: keep them if it already arrived.
        if (pending?.settings.modelHash !== releaseWanted.hash) models.delete(releaseWanted.hash);
        releaseWanted = null;
      }
    }
    if (!pending) return;
    const s = pending.settings;
    if (!pending.global) {
      const bytes = models.get(s.modelHash);
      if (!bytes) return;
      models.delete(s.modelHash);
      const d = decodeModel(bytes, paramCount(s.spec));
      if (!d.ok || d.version !== s.modelVersion) {
        pending = null;
        return;
      }
      pending.global = d.params;
      void send({ t: "join", round: s.round });
    }
    if (pending.cohort) {
      const { global, cohort } = pending;
      pending = null;
      if (opts.dropBeforeUpdate?.(s.round)) return;
      void transport.sendBulk(opts.coordinator, buildUpdate(s, global, cohort)).catch(() => undefined);
    }
  };

  function buildUpdate(s: RoundSettings, global: Float32Array, cohort: string[]): Uint8Array {
    const examples = opts.examples().slice(0, s.maxExamples);
    const before = evaluate(s.spec, global, examples);
    const rngSeed = (opts.seed * 1_000_003 + s.round) >>> 0;
    const trained = train(s.spec, global, examples, { ...s, seed: rngSeed });
    const d = delta(trained, global);
    clipL2(d, s.clipNorm);
    if (s.noiseMultiplier > 0)
      addGaussianNoise(d, clientNoiseStd({ ...s, minClients: s.minClients }), createRng(rngSeed ^ 0x5eed));
    const header = {
      round: s.round,
      modelVersion: s.modelVersion,
      params: d.length,
      evalCount: before.examples,
      evalCorrect: Math.round(before.accuracy * before.examples),
    };
    if (!s.secure)
      return encodeUpdate(
        {
          ...header,
          encoding: s.encoding,
          examples: examples.length,
          chunk: s.encoding === "int8" ? s.chunk : 0,
        },
        d,
      );
    const fixed = toFixedPoint(d, examples.length, s.fixedPointScale, s.maxExamples);
    const parties: MaskParty[] = [];
    for (const fp of cohort) {
      if (fp === self) continue;
      const key = opts.agreementKeyOf(fp);
      // A member without a certified key cannot be masked against; sending unmasked would leak.
      if (!key) throw new Error(`fedavg: no agreement key for cohort member ${fp}`);
      parties.push({ fingerprint: fp, agreementKey: key });
    }
    maskUpdate(fixed, opts.keys, self, parties, String(s.round));
    return encodeUpdate({ ...header, encoding: "masked", examples: 0, chunk: 0 }, fixed);
  }

  const onControl = (m: ControlMessage) => {
    if (m.t === "announce") {
      if (paramCount(m.settings.spec) > 0) pending = { settings: m.settings, global: null, cohort: null };
    } else if (m.t === "cohort" && pending?.settings.round === m.round && m.members.includes(self)) {
      pending.cohort = m.members;
    } else if (m.t === "reveal-request") {
      // Seeds are revealed only for this round (HKDF binds the round) and only with the named peers.
      const seeds: { fp: string; seed: string }[] = [];
      for (const fp of m.dropped) {
        const key = opts.agreementKeyOf(fp);
        if (!key || fp === self) return;
        const seed = pairSeed(opts.keys, self, { fingerprint: fp, agreementKey: key }, String(m.round));
        seeds.push({ fp, seed: Buffer.from(seed).toString("hex") });
      }
      void send({ t: "reveal", round: m.round, seeds });
    } else if (m.t === "release") {
      const params = current?.params.length ?? pending?.global?.length ?? lastParams;
      releaseWanted = { version: m.modelVersion, hash: m.modelHash, params };
    } else if (m.t === "refused") {
      opts.onRefused?.(m.round, m.reason);
    }
  };
  let lastParams = 0;

  const unlisten = transport.listen({
    control(from, bytes) {
      if (from !== opts.coordinator) return;
      const d = decodeControl(bytes);
      if (!d.ok) return;
      if (d.msg.t === "announce") lastParams = paramCount(d.msg.settings.spec);
      onControl(d.msg);
      step();
    },
    bulk(from, source: UpdateSource) {
      if (from !== opts.coordinator || !(source instanceof Uint8Array) || !isModelBytes(source)) return;
      // Bounded: a coordinator sends at most the announced and the released model at once.
      if (models.size >= 4) models.clear();
      models.set(sha256Hex(source), source);
      step();
    },
  });

  return {
    current: () => current,
    stop: unlisten,
  };
}
