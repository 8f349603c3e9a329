// The OpenAI-compatible API as a user meets it: a model imported with `kiana model import`, a real
// `kiana run`, and the official `openai` client streaming a chat from it over HTTP.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { startKiana } from "../admin/kiana-process.test-helper.ts";
import { writeTinyLlama } from "../models/gguf-writer.test-helper.ts";

const MAIN = join(import.meta.dir, "../main.ts");

test("import a GGUF, run the node, stream a chat with the official openai client", async () => {
  const data = mkdtempSync(join(tmpdir(), "kiana-model-api-"));
  const file = join(mkdtempSync(join(tmpdir(), "kiana-gguf-")), "tiny.gguf");
  writeTinyLlama(file);
  const imported = Bun.spawnSync(
    [process.execPath, MAIN, "model", "import", file, "--name", "tiny-chat", "--json"],
    {
      env: { ...process.env, KIANA_DATA: data, KIANA_LOG_FORMAT: "json" },
      timeout: 30_000,
    },
  );
  expect(imported.stderr.toString()).toBe("");
  expect(imported.exitCode).toBe(0);

  const node = await startKiana({ env: { KIANA_DATA: data, KIANA_MODELS_API_TOKEN: "sesame" } });
  afterAll(() => node.kill());
  const client = new OpenAI({ baseURL: `${node.url}v1`, apiKey: "sesame", maxRetries: 0, timeout: 60_000 });

  const listed = await client.models.list();
  expect(listed.data.map((m) => m.id)).toContain("tiny-chat");

  const stream = await client.chat.completions.create({
    model: "tiny-chat",
    messages: [
      { role: "system", content: "You are terse." },
      { role: "user", content: "hello" },
    ],
    max_tokens: 8,
    stream: true,
  });
  let text = "";
  let finish: string | null | undefined;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? "";
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  expect(text.length).toBeGreaterThan(0);
  expect(["length", "stop"]).toContain(finish as string);

  const wrong = new OpenAI({ baseURL: `${node.url}v1`, apiKey: "not-it", maxRetries: 0 });
  // The client's page promise starts its request only when awaited.
  const refused = await wrong.models.list().then(
    () => null,
    (err: unknown) => err,
  );
  expect(refused).toBeInstanceOf(OpenAI.AuthenticationError);
}, 90_000);
