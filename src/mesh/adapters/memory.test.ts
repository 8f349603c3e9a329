import { expect, test } from "bun:test";
import { transportContract } from "../transport-contract.test-helper.ts";
import { createMemoryBus } from "./memory.ts";

const bus = createMemoryBus();
transportContract("memory", async () => bus.connect());

test("memory: the bus log records every publish, for assertions on what left a node", async () => {
  const b = createMemoryBus();
  const c = b.connect();
  await c.publish("kiana/v1/f/n/x", new Uint8Array([1, 2]));
  expect(b.log.map((e) => e.topic)).toEqual(["kiana/v1/f/n/x"]);
});
