// Wires a coordinator and N clients over the mesh's in-memory bus with a manual clock, so tests and
// the benchmark run whole FedAvg rounds in one process and can inspect every byte that crossed.
import { createMemoryBus, type MemoryBus } from "../mesh/adapters/memory.ts";
import { createManualClock } from "../platform/clock.ts";
import { createMemoryFedavgTransport, settle } from "./adapters/memory.ts";
import { createFedavgClient, type FedavgClient, type FedavgClientOptions } from "./client.ts";
import { type Coordinator, createCoordinator, type RoundStatus } from "./coordinator.ts";
import type { RoundSettings } from "./messages.ts";
import { initParams, type ModelSpec } from "./model.ts";
import { createRng } from "./rng.ts";
import { fixedPointScale } from "./secure-agg.ts";
import { testIdentity } from "./test-keys.test-helper.ts";
import type { Example } from "./trainer.ts";

export const HUB = "00c0ffee00c0ffee00c0ffee00c0ffee";

export interface Federation {
  bus: MemoryBus;
  clock: ReturnType<typeof createManualClock>;
  coordinator: Coordinator;
  clients: FedavgClient[];
  fingerprints: string[];
  /** Runs one round to its end, advancing the clock in 1 s steps. */
  round(settings: Partial<RoundSettings>, invite?: string[]): Promise<RoundStatus>;
  global(): Float32Array;
  stop(): void;
}

export function settingsFor(
  spec: ModelSpec,
  over: Partial<RoundSettings> = {},
): Omit<RoundSettings, "modelHash"> {
  const base = {
    round: 1,
    modelVersion: 0,
    spec,
    minClients: 3,
    maxClients: 5,
    deadlineAt: 0,
    epochs: 2,
    batchSize: 16,
    learningRate: 0.005,
    optimizer: "adam" as const,
    clipNorm: 5,
    encoding: "int8" as const,
    chunk: 256,
    maxExamples: 1000,
    secure: false,
    fixedPointScale: 1,
    noiseMultiplier: 0,
  };
  const s = { ...base, ...over };
  return { ...s, fixedPointScale: fixedPointScale(s.maxClients, s.maxExamples, s.clipNorm) };
}

export async function createFederation(opts: {
  spec: ModelSpec;
  households: Example[][];
  clientOptions?: (k: number) => Partial<FedavgClientOptions>;
}): Promise<Federation> {
  const bus = createMemoryBus();
  const clock = createManualClock();
  const ids = opts.households.map(() => testIdentity());
  const keyOf = new Map(ids.map((i) => [i.fingerprint, i.agreementPublicKey]));
  let global = initParams(opts.spec, createRng(1));
  let version = 0;
  const coordinator = createCoordinator({
    transport: createMemoryFedavgTransport(bus, HUB),
    clock,
    joinMs: 5000,
    onRelease(record, params) {
      global = params;
      version = record.version;
    },
  });
  const clients = opts.households.map((examples, k) =>
    createFedavgClient({
      transport: createMemoryFedavgTransport(bus, (ids[k] as (typeof ids)[number]).fingerprint),
      coordinator: HUB,
      examples: () => examples,
      keys: ids[k] as (typeof ids)[number],
      agreementKeyOf: (fp) => keyOf.get(fp),
      seed: k + 1,
      ...opts.clientOptions?.(k),
    }),
  );
  await settle();
  let n = 0;
  const fingerprints = ids.map((i) => i.fingerprint);
  return {
    bus,
    clock,
    coordinator,
    clients,
    fingerprints,
    global: () => global,
    async round(over, invite = fingerprints) {
      n++;
      const s = settingsFor(opts.spec, {
        round: n,
        modelVersion: version,
        deadlineAt: clock.now() + 60_000,
        ...over,
      });
      let done: RoundStatus | null = null;
      const p = coordinator.runRound(s, global, invite).then((r) => {
        done = r;
      });
      for (let t = 0; t < 200 && !done; t++) {
        await settle();
        if (!done) clock.advance(1000);
      }
      await p;
      await settle();
      return done as unknown as RoundStatus;
    },
    stop() {
      coordinator.stop();
      for (const c of clients) c.stop();
    },
  };
}
