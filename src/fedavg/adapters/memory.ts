// FedAvg transports over the mesh's in-memory bus, for tests: each device publishes to
// `fedavg/<to>/<from>/<c|b>`, and the bus keeps a log of every payload, which is what the tests
// inspect to prove that no raw example ever left a device.
import type { MemoryBus } from "../../mesh/adapters/memory.ts";
import type { FedavgTransport } from "../ports.ts";

export function createMemoryFedavgTransport(bus: MemoryBus, self: string): FedavgTransport {
  const transport = bus.connect();
  return {
    self,
    send: (to, bytes) => transport.publish(`fedavg/${to}/${self}/c`, bytes, { qos: 1 }),
    sendBulk: (to, bytes) => transport.publish(`fedavg/${to}/${self}/b`, bytes, { qos: 1 }),
    listen(handlers) {
      let off: (() => Promise<void>) | undefined;
      let closed = false;
      void transport
        .subscribe(`fedavg/${self}/+/+`, (topic, payload) => {
          const [, , from, kind] = topic.split("/");
          if (closed || !from) return;
          if (kind === "c") handlers.control(from, payload);
          else if (kind === "b") handlers.bulk(from, payload);
        })
        .then((u) => {
          off = u;
        });
      return () => {
        closed = true;
        void off?.();
      };
    },
  };
}

/** Resolves once the bus has delivered everything queued (deliveries are microtasks). */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}
