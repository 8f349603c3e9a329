// The official `openai` client as a script, for integration tests that run it inside a network
// namespace: `bun openai-client.test-helper.ts <base-url> <api-key> <request-json>`. One JSON line
// per event, printed as it happens, so a test can act between two deltas of a stream:
// {event:"open", status, servedBy} {event:"delta", content} {event:"done", text, finish, servedBy}
// {event:"error", status, code, message, name, servedBy, ms}. An empty api key sends no Authorization
// header at all (plain fetch: the client itself insists on a key).
import OpenAI from "openai";

const [baseURL = "", apiKey = "", request = "{}"] = process.argv.slice(2);
const body = JSON.parse(request) as OpenAI.ChatCompletionCreateParams;
const say = (line: Record<string, unknown>) => console.log(JSON.stringify(line));
const started = performance.now();

async function run(): Promise<void> {
  if (apiKey === "") {
    const res = await fetch(`${baseURL}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(20_000),
    });
    const answer = (await res.json()) as { error?: { code?: string; message?: string } };
    say({ event: "error", status: res.status, code: answer.error?.code, message: answer.error?.message });
    return;
  }
  const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 30_000 });
  let servedBy: string | null = null;
  try {
    if (body.stream) {
      const { data, response } = await client.chat.completions.create(body).withResponse();
      servedBy = response.headers.get("x-kiana-served-by");
      say({ event: "open", status: response.status, servedBy });
      let text = "";
      let finish: string | null = null;
      for await (const chunk of data) {
        const content = chunk.choices[0]?.delta?.content ?? "";
        finish = chunk.choices[0]?.finish_reason ?? finish;
        if (content === "") continue;
        text += content;
        say({ event: "delta", content });
      }
      say({ event: "done", text, finish, servedBy });
    } else {
      const { data, response } = await client.chat.completions.create(body).withResponse();
      servedBy = response.headers.get("x-kiana-served-by");
      const choice = data.choices[0];
      say({ event: "done", text: choice?.message.content ?? "", finish: choice?.finish_reason, servedBy });
    }
  } catch (err) {
    const e = err as { status?: number; code?: string; message?: string };
    const ms = Math.round(performance.now() - started);
    // The client's error classes (NotFoundError, AuthenticationError, APIError) leave `name` as "Error".
    const name = (err as object)?.constructor?.name;
    say({ event: "error", status: e.status, code: e.code, message: e.message, name, servedBy, ms });
  }
}

await run();
