// The contract every MessageTransport adapter passes: run it from each adapter's test file with a
// factory that makes connected clients on one bus/broker.
import { afterEach, expect, test } from "bun:test";
import type { MessageTransport } from "./ports.ts";

type Factory = () => Promise<MessageTransport>;

async function waitFor<T>(fn: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error("timed out waiting for a message");
    await Bun.sleep(10);
  }
}

export function transportContract(name: string, connect: Factory): void {
  const open: MessageTransport[] = [];
  const client = async () => {
    const c = await connect();
    open.push(c);
    return c;
  };
  afterEach(async () => {
    for (const c of open.splice(0)) await c.close().catch(() => {});
  });
  const bytes = (s: string) => new TextEncoder().encode(s);
  const text = (b: Uint8Array) => new TextDecoder().decode(b);

  test(`${name}: a subscriber gets what another client publishes, bytes intact`, async () => {
    const [a, b] = [await client(), await client()];
    const got: string[] = [];
    await b.subscribe("kiana/v1/f/+/hello", (topic, p) => got.push(`${topic}=${text(p)}`));
    await a.publish("kiana/v1/f/n1/hello", bytes("hi"), { qos: 1 });
    await a.publish("kiana/v1/f/n1/other", bytes("no"), { qos: 1 });
    await waitFor(() => (got.length >= 1 ? true : undefined));
    await Bun.sleep(50);
    expect(got).toEqual(["kiana/v1/f/n1/hello=hi"]);
  });

  test(`${name}: # matches everything below; binary payloads survive`, async () => {
    const [a, b] = [await client(), await client()];
    const got: Uint8Array[] = [];
    await b.subscribe("kiana/v1/f/#", (_t, p) => got.push(p));
    const payload = Uint8Array.from({ length: 300 }, (_, i) => i % 256);
    await a.publish("kiana/v1/f/n1/a/b/c", payload, { qos: 1 });
    const first = await waitFor(() => got[0]);
    expect(Buffer.from(first).equals(Buffer.from(payload))).toBe(true);
  });

  test(`${name}: retained messages reach late subscribers; an empty retained message clears`, async () => {
    const a = await client();
    await a.publish("kiana/v1/f/n1/presence", bytes("online"), { qos: 1, retain: true });
    await a.publish("kiana/v1/f/n2/presence", bytes("online"), { qos: 1, retain: true });
    await a.publish("kiana/v1/f/n2/presence", new Uint8Array(0), { qos: 1, retain: true });
    const late = await client();
    const got: string[] = [];
    await late.subscribe("kiana/v1/f/+/presence", (topic) => got.push(topic));
    await Bun.sleep(200);
    expect(got).toEqual(["kiana/v1/f/n1/presence"]);
  });

  test(`${name}: unsubscribe stops delivery`, async () => {
    const [a, b] = [await client(), await client()];
    const got: string[] = [];
    const off = await b.subscribe("kiana/v1/f/x", (_t, p) => got.push(text(p)));
    await a.publish("kiana/v1/f/x", bytes("1"), { qos: 1 });
    await waitFor(() => (got.length === 1 ? true : undefined));
    await off();
    await a.publish("kiana/v1/f/x", bytes("2"), { qos: 1 });
    await Bun.sleep(200);
    expect(got).toEqual(["1"]);
  });
}
