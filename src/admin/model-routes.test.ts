// Model admin routes called directly: uploads that become models, refusals with the status and JSON
// error a page can show, progress readable mid-upload, and a broken upload leaving nothing behind.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeTinyLlama } from "../models/gguf-writer.test-helper.ts";
import { createModelRegistry } from "../models/registry.ts";
import { withModelsMigration } from "../models/registry-migration.ts";
import { MIGRATIONS, openStore } from "../store/index.ts";
import { createModelRoutes } from "./model-routes.ts";

const tmp = mkdtempSync(join(tmpdir(), "kiana-model-routes-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;

const tiny = (seed = 1) => {
  const path = join(tmp, `tiny-${seed}.gguf`);
  writeTinyLlama(path, { seed });
  return new Uint8Array(readFileSync(path));
};

function setup(maxUploadBytes?: number) {
  const dir = join(tmp, `r${n++}`);
  const store = openStore({ path: join(dir, "kiana.db"), migrations: withModelsMigration(MIGRATIONS) });
  const registry = createModelRegistry({ store, modelsDir: join(dir, "models") });
  const routes = createModelRoutes({ registry, maxUploadBytes, now: () => 1234 });
  const parts = () => readdirSync(join(dir, "models", ".incoming"));
  return { registry, routes, parts };
}

type Body = Uint8Array | string | ReadableStream<Uint8Array> | null;
/** The JSON bodies these routes answer with, loosely. */
interface Answered {
  error: { code: string; message: string };
  model: { id: string; name: string };
  models: { name: string }[];
  uploads: { name: string; bytesDone: number; bytesTotal: number | null; startedAt: number }[];
}

const post = (query: string, body: Body, headers: Record<string, string> = {}) =>
  new Request(`http://kiana.local/api/v1/models/upload${query}`, {
    method: "POST",
    body,
    headers: { "content-type": "application/octet-stream", ...headers },
    duplex: "half",
  } as RequestInit);
const get = (path: string) => new Request(`http://kiana.local${path}`);

async function answer(res: Response | Promise<Response>) {
  const r = await res;
  return { status: r.status, body: (await r.json()) as Answered };
}

test("an upload becomes a model; the same bytes again answer 200 with the existing entry", async () => {
  const { routes } = setup();
  const bytes = tiny();
  const created = await answer(routes.upload(post("?name=tiny", bytes)));
  expect(created.status).toBe(201);
  expect(created.body).toMatchObject({
    duplicate: false,
    model: { name: "tiny", kind: "gguf", architecture: "llama", bytes: bytes.length, contextLength: 256 },
  });
  const again = await answer(routes.upload(post("?name=tiny-again", bytes)));
  expect(again).toMatchObject({
    status: 200,
    body: { duplicate: true, model: { id: created.body.model.id } },
  });
  const listed = await answer(routes.list(get("/api/v1/models")));
  expect(listed.body.models.map((m: { name: string }) => m.name)).toEqual(["tiny"]);
});

test("refusals answer 400, 409, 413 or 422 with a code and a sentence naming the problem", async () => {
  const { routes, parts } = setup(400_000);
  await routes.upload(post("?name=tiny", tiny(1)));
  const cases: [() => Request, number, string, RegExp][] = [
    [() => post("", tiny(2)), 400, "ADMIN_BAD_REQUEST", /name the model/],
    [() => post("?name=a%20b", tiny(2)), 400, "MODEL_FILE_INVALID", /model name "a b" must be/],
    [
      () => post("?name=tiny", tiny(2)),
      409,
      "MODEL_FILE_INVALID",
      /the name tiny is taken by model [0-9a-f]{16}/,
    ],
    [
      () => post("?name=x", "x".repeat(10), { "content-length": "500000" }),
      413,
      "MODEL_FILE_INVALID",
      /over the limit/,
    ],
    [
      () => post("?name=big", new Blob([tiny(5), new Uint8Array(200_000)]).stream()),
      413,
      "MODEL_FILE_INVALID",
      /over the limit/,
    ],
    [
      () => post("?name=page", "<!doctype html>"),
      422,
      "MODEL_FILE_INVALID",
      /upload page is neither a GGUF nor/,
    ],
    [
      () => post("?name=cut", tiny(3).subarray(0, 20_000)),
      422,
      "MODEL_FILE_INVALID",
      /^upload cut: .*truncated/,
    ],
    [
      () => post(`?name=sum&sha256=${"1".repeat(64)}`, tiny(4)),
      422,
      "MODEL_HASH_MISMATCH",
      /not the expected 1{64}/,
    ],
    [() => post("?name=empty", null), 400, "ADMIN_BAD_REQUEST", /the body is empty/],
  ];
  for (const [request, status, code, message] of cases) {
    const r = await answer(routes.upload(request()));
    expect([r.status, r.body.error.code]).toEqual([status, code]);
    expect(r.body.error.message).toMatch(message);
  }
  expect((await answer(routes.list(get("/api/v1/models")))).body.models).toHaveLength(1);
  expect(parts()).toEqual([]);
});

test("progress is readable while an upload runs and gone once it ends", async () => {
  const { routes } = setup();
  const bytes = tiny();
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
  });
  const done = routes.upload(post("?name=slow", body, { "content-length": String(bytes.length) }));
  controller.enqueue(bytes.subarray(0, 100_000));
  let seen: Answered["uploads"][number] | undefined;
  for (let i = 0; i < 100 && !seen?.bytesDone; i++) {
    await Bun.sleep(5);
    seen = (await answer(routes.uploads(get("/api/v1/models/uploads")))).body.uploads[0];
  }
  expect(seen).toMatchObject({ name: "slow", bytesDone: 100_000, bytesTotal: bytes.length, startedAt: 1234 });
  controller.enqueue(bytes.subarray(100_000));
  controller.close();
  expect((await done).status).toBe(201);
  expect((await answer(routes.uploads(get("/api/v1/models/uploads")))).body.uploads).toEqual([]);
});

test("a connection that breaks midway leaves no model, no part file and no upload listed", async () => {
  const { routes, parts } = setup();
  const bytes = tiny();
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(bytes.subarray(0, 50_000));
    },
    pull(c) {
      c.error(new Error("socket closed"));
    },
  });
  const r = await answer(
    routes.upload(post("?name=broken", body, { "content-length": String(bytes.length) })),
  );
  expect(r.status).toBe(400);
  expect(r.body.error.message).toMatch(/upload broken failed after \d+ bytes: socket closed/);
  expect((await answer(routes.list(get("/api/v1/models")))).body.models).toEqual([]);
  expect((await answer(routes.uploads(get("/api/v1/models/uploads")))).body.uploads).toEqual([]);
  expect(parts()).toEqual([]);
});

test("delete removes by id and answers 404 for a model that is not there", async () => {
  const { routes, registry } = setup();
  const { body } = await answer(routes.upload(post("?name=tiny", tiny())));
  const del = () =>
    answer(routes.remove(new Request("http://kiana.local", { method: "DELETE" }), body.model.id));
  expect(await del()).toMatchObject({ status: 200, body: { removed: { id: body.model.id, name: "tiny" } } });
  expect(registry.list()).toEqual([]);
  const missing = await del();
  expect([missing.status, missing.body.error.code]).toEqual([404, "MODEL_NOT_FOUND"]);
});
