// Models as `kiana run` serves them: the registry and its admin routes, and the OpenAI-compatible
// API under /v1, whose engines are built on the first request (loading llama.cpp or onnxruntime
// costs memory a satellite may never need). Requests this board should not answer go to a peer.

import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { KianaConfig } from "../config/index.ts";
import { describeError } from "../errors.ts";
import type { MeshNode } from "../mesh/mesh-node.ts";
import type { Open } from "../mesh/transfer/ports.ts";
import type { OpenAiApi } from "../models/openai-api.ts";
import { writeFileAtomic } from "../platform/atomic-file.ts";
import type { EngineRegistry } from "../platform/engines.ts";
import type { HardwareProfile } from "../platform/hardware-profile.ts";
import type { Logger } from "../platform/log.ts";
import type { Store } from "../store/index.ts";

/** The largest model file an admin upload may bring (a 70B model at 4 bits is ~40 GiB). */
export const MAX_UPLOAD_BYTES = 64 * 2 ** 30;
export const API_TOKEN_FILE = "api-token";

/** The configured token, else the one kept in the data dir (made on first use, mode 0600). */
export function apiToken(config: Readonly<KianaConfig>): string {
  if (config.models.apiToken) return config.models.apiToken;
  const file = join(config.dataDir, API_TOKEN_FILE);
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  const token = `kiana-${randomBytes(24).toString("base64url")}`;
  writeFileAtomic(file, `${token}\n`);
  chmodSync(file, 0o600);
  return token;
}

export async function startModels(
  config: Readonly<KianaConfig>,
  o: {
    store: Store;
    engines: EngineRegistry;
    profile: () => Promise<HardwareProfile>;
    log: Logger;
    /** The enrolled mesh, once started: peers to route to, and the keys that sign and check tokens. */
    mesh?: () => MeshNode | undefined;
  },
) {
  const [{ createModelRegistry }, { createModelRoutes }, { createServedModels }, peerAuth] =
    await Promise.all([
      import("../models/registry.ts"),
      import("../admin/model-routes.ts"),
      import("../models/served-models.ts"),
      import("../models/peer-auth.ts"),
    ]);
  const registry = createModelRegistry({ store: o.store, modelsDir: join(config.dataDir, "models") });
  const token = apiToken(config);
  let disposers: (() => Promise<void> | void)[] = [];
  const served = createServedModels();
  let loadedNow = (): ReadonlySet<string> => new Set();
  const refs = () =>
    // Clients name models the way people do: by the name given at import (unique).
    registry.list().map((e) => ({ id: e.name, name: e.name, path: registry.pathOf(e), kind: e.kind }));

  // Tokens from peers race each other on parallel connections: a window guard, not the strict one.
  const guard = peerAuth.createWindowReplayGuard();
  let peerCheck: ((authorization: string) => boolean) | undefined;
  function fromPeer(authorization: string): boolean {
    const mesh = o.mesh?.();
    if (!peerCheck && mesh) {
      const openEnvelope = mesh.channelOpener(guard);
      if (!openEnvelope) return false;
      const open: Open = (bytes) => {
        const r = openEnvelope(bytes);
        if (!r.ok) return { ok: false, detail: `${r.reason}: ${r.detail}` };
        return { ok: true, from: r.envelope.from, type: r.envelope.type, body: r.envelope.body };
      };
      peerCheck = peerAuth.createPeerTokenCheck({ open, audience: () => mesh.fingerprint, now: Date.now });
    }
    return peerCheck?.(authorization) ?? false;
  }

  async function build(): Promise<OpenAiApi> {
    const [m, profile] = await Promise.all([import("../models/index.ts"), o.profile()]);
    const llamaPath = o.engines.probe().find((e) => e.name === "llama")?.path;
    const installed = llamaPath ? m.installedBackends(dirname(llamaPath)) : { llama: [], onnx: [] };
    const budget = {
      reserveBytes: config.models.reserveMb * 2 ** 20,
      llamaBackends: installed.llama,
      onnxProviders: installed.onnx,
    };
    const llama = m.createLlamaEngine({
      loadLlama: async () => (await o.engines.load("llama")) as import("../models/index.ts").LlamaModule,
      profile,
      budget,
      log: o.log,
    });
    const onnx = m.createOnnxSessions({
      loadOnnx: async () => (await o.engines.load("onnxruntime")) as import("../models/index.ts").OnnxModule,
      profile,
      budget,
      log: o.log,
    });
    const chat = m.createLlamaChat({ engine: llama, log: o.log });
    disposers = [() => chat.dispose(), () => onnx.dispose(), () => llama.dispose()];
    loadedNow = () => {
      const onnxPaths = new Set(onnx.paths());
      const ids = new Set(refs().flatMap((r) => (onnxPaths.has(r.path) ? [r.id] : [])));
      const current = llama.current()?.ref.id;
      if (current) ids.add(current);
      return ids;
    };
    const [{ createPeerForwarder }, { createPeerRoute }] = await Promise.all([
      import("../models/peer-forwarder.ts"),
      import("../models/peer-route.ts"),
    ]);
    const forwarder = createPeerForwarder({
      seal: (type, body) => {
        const mesh = o.mesh?.();
        if (!mesh) throw new Error("the mesh is not running");
        return mesh.seal(type, body);
      },
    });
    return m.createOpenAiApi({
      models: refs,
      chat: served.measure(chat),
      embed: m.embedWith({ llama, onnx }),
      bearerToken: token,
      peerAuth: fromPeer,
      route: createPeerRoute({
        peers: () => o.mesh?.()?.peers() ?? [],
        forwarder,
        routeModels: config.models.routeModels,
        log: o.log,
      }),
      log: o.log,
    });
  }

  let api: Promise<OpenAiApi> | undefined;
  return {
    registry,
    adminRoutes: createModelRoutes({ registry, maxUploadBytes: MAX_UPLOAD_BYTES }),
    tokenFile: config.models.apiToken ? null : join(config.dataDir, API_TOKEN_FILE),
    /** What heartbeats advertise to peers (createMeshNode's `models`): installed, loaded, measured speed. */
    advertised() {
      try {
        return served.list(
          refs().map((r) => r.id),
          loadedNow(),
        );
      } catch (err) {
        // Read inside the heartbeat: a failure here must not silence the beat and fail this node.
        o.log.warn({ err: describeError(err) }, "the models to advertise could not be read");
        return [];
      }
    },
    /** Requests under /v1. */
    async handle(request: Request): Promise<Response> {
      try {
        api ??= build();
        return (await (await api).handle(request)) ?? openAiError(404, "no such endpoint under /v1");
      } catch (err) {
        api = undefined;
        o.log.error({ err: describeError(err) }, "the model API could not start");
        return openAiError(503, `the model API could not start: ${describeError(err)}`);
      }
    },
    async dispose() {
      for (const d of disposers) await d();
    },
  };
}

function openAiError(status: number, message: string): Response {
  return Response.json({ error: { message, type: "server_error", param: null, code: null } }, { status });
}
