// The models part of the admin API: list, upload (the raw request body streamed into the registry,
// its progress readable while it runs) and delete. The app checks login and CSRF before these run.
import { randomBytes } from "node:crypto";
import { isKianaError } from "../errors.ts";
import { type ImportRefusal, importRefusal, type ModelRegistry } from "../models/registry.ts";
import { jsonError, jsonResponse } from "./http.ts";

export interface UploadProgress {
  id: string;
  name: string;
  bytesDone: number;
  /** From Content-Length; null for a chunked upload. */
  bytesTotal: number | null;
  startedAt: number;
}

export interface ModelRoutesOptions {
  registry: Pick<ModelRegistry, "list" | "importStream" | "remove">;
  /** The largest upload accepted. */
  maxUploadBytes?: number;
  /** Uploads at once; each holds a part file and the disk's attention, so a few at most. */
  maxConcurrentUploads?: number;
  now?: () => number;
  randomId?: () => string;
}

const DEFAULT_MAX_UPLOAD = 64 * 2 ** 30;

// Refusals by what the client must change: the request (400), the name (409), the size (413), the file (422).
const STATUS: Record<ImportRefusal, number> = {
  "name-invalid": 400,
  "sha256-invalid": 400,
  "ended-early": 400,
  "name-taken": 409,
  "too-large": 413,
  "not-a-model": 422,
  invalid: 422,
  "hash-mismatch": 422,
};

export function createModelRoutes(opts: ModelRoutesOptions) {
  const { registry } = opts;
  const maxBytes = opts.maxUploadBytes ?? DEFAULT_MAX_UPLOAD;
  const maxConcurrent = opts.maxConcurrentUploads ?? 2;
  const now = opts.now ?? Date.now;
  const randomId = opts.randomId ?? (() => randomBytes(6).toString("hex"));
  const running = new Map<string, UploadProgress>();

  return {
    /** GET /api/v1/models */
    list(_request: Request): Response {
      return jsonResponse({ models: registry.list() });
    },

    /** GET /api/v1/models/uploads: what a page polls to draw progress bars. */
    uploads(_request: Request): Response {
      return jsonResponse({ uploads: [...running.values()].map((u) => ({ ...u })) });
    },

    /** POST /api/v1/models/upload?name=N[&sha256=HEX], the model file as the raw body. */
    async upload(request: Request): Promise<Response> {
      const params = new URL(request.url).searchParams;
      const name = params.get("name")?.trim();
      const bad = (message: string) => jsonError(400, "ADMIN_BAD_REQUEST", message);
      if (!name) return bad("name the model: POST /api/v1/models/upload?name=NAME with the file as the body");
      const declared = request.headers.get("content-length");
      if (declared !== null && !/^\d{1,16}$/.test(declared)) return bad("Content-Length is not a byte count");
      const total = declared === null ? undefined : Number(declared);
      if (total !== undefined && total > maxBytes) {
        return jsonError(
          413,
          "MODEL_FILE_INVALID",
          `the upload is ${total} bytes, over the limit of ${maxBytes}`,
        );
      }
      if (!request.body || total === 0)
        return bad("the body is empty: send the model file as the request body");
      if (running.size >= maxConcurrent) {
        return jsonError(
          429,
          "ADMIN_RATE_LIMITED",
          `${running.size} uploads are running; try again when one ends`,
        );
      }

      const progress: UploadProgress = {
        id: randomId(),
        name,
        bytesDone: 0,
        bytesTotal: total ?? null,
        startedAt: now(),
      };
      running.set(progress.id, progress);
      const counted = request.body.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, controller) {
            progress.bytesDone += chunk.byteLength;
            controller.enqueue(chunk);
          },
        }),
      );
      try {
        const { entry, duplicate } = await registry.importStream(counted, {
          name,
          bytes: total,
          maxBytes,
          expectSha256: params.get("sha256") ?? undefined,
        });
        return jsonResponse({ model: entry, duplicate }, duplicate ? 200 : 201);
      } catch (err) {
        const reason = importRefusal(err);
        if (reason && isKianaError(err)) return jsonError(STATUS[reason], err.code, err.message);
        // Disk full, I/O errors: the app's error handler answers 500 and logs them.
        throw err;
      } finally {
        running.delete(progress.id);
      }
    },

    /** DELETE /api/v1/models/:id (an id or a name). */
    async remove(_request: Request, id: string): Promise<Response> {
      try {
        return jsonResponse({ removed: await registry.remove(id) });
      } catch (err) {
        if (isKianaError(err, "MODEL_NOT_FOUND")) return jsonError(404, err.code, err.message);
        throw err;
      }
    },
  };
}
