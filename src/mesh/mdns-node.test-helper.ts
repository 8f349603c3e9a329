// A process for the mDNS integration test, run inside a network namespace. `--mode kiana`
// advertises and browses through createMdns and prints each change as a JSON line on stdout;
// `--mode mqtt` is a stand-in broker advertiser written straight on multicast-dns, the way avahi
// answers, so our browser is checked against records it did not build itself.
import { networkInterfaces } from "node:os";
import { parseArgs } from "node:util";
import makeMdns from "multicast-dns";
import { createLogger } from "../platform/log.ts";
import { createMdns } from "./adapters/mdns.ts";
import { kianaTxt } from "./mdns-records.ts";

const { values: args } = parseArgs({
  options: {
    mode: { type: "string", default: "kiana" },
    name: { type: "string", default: "node" },
    fp: { type: "string", default: "0".repeat(32) },
    role: { type: "string", default: "node" },
    ver: { type: "string", default: "0.1.0" },
    admin: { type: "string", default: "8080" },
    fleet: { type: "string", default: "test" },
    port: { type: "string", default: "8080" },
    "max-ms": { type: "string", default: "60000" },
  },
});

const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
// Never outlive a test that forgot us.
setTimeout(() => process.exit(3), Number(args["max-ms"])).unref();

if (args.mode === "mqtt") runFakeBroker();
else await runNode();

async function runNode() {
  const log = createLogger({ level: "debug", format: "json", write: (line) => process.stderr.write(line) });
  const mdns = createMdns({
    name: args.name ?? "node",
    port: Number(args.port),
    txt: kianaTxt({
      fingerprint: args.fp ?? "",
      role: args.role ?? "",
      version: args.ver ?? "",
      adminPort: Number(args.admin),
      fleet: args.fleet ?? "",
    }),
    log,
  });
  mdns.browse("kiana", (services) => print({ event: "services", type: "kiana", services }));
  mdns.browse("mqtt", (services) => print({ event: "services", type: "mqtt", services }));
  await mdns.start();
  print({ event: "ready" });
  process.on("SIGTERM", () => {
    void mdns.stop().then(() => {
      print({ event: "stopped" });
      process.exit(0);
    });
  });
}

function runFakeBroker() {
  const address = Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .find((i) => !i.internal && i.family === "IPv4")?.address;
  if (!address) throw new Error("no IPv4 address in this namespace");
  const instance = `${args.name} broker._mqtt._tcp.local`;
  const host = `${args.name}-broker.local`;
  const ptr = { name: "_mqtt._tcp.local", type: "PTR" as const, ttl: 4500, data: instance };
  const extra = [
    {
      name: instance,
      type: "SRV" as const,
      ttl: 120,
      flush: true,
      data: { target: host, port: Number(args.port) },
    },
    { name: instance, type: "TXT" as const, ttl: 4500, flush: true, data: [""] },
    { name: host, type: "A" as const, ttl: 120, flush: true, data: address },
  ];
  const mdns = makeMdns({ bind: "0.0.0.0" });
  mdns.on("query", (query) => {
    try {
      if (query.questions.some((q) => q.name.toLowerCase() === "_mqtt._tcp.local")) {
        mdns.respond({ answers: [ptr], additionals: extra });
      }
    } catch (err) {
      process.stderr.write(`fake broker: ${String(err)}\n`);
    }
  });
  mdns.on("ready", () => {
    mdns.respond({ answers: [ptr], additionals: extra });
    print({ event: "ready" });
  });
  process.on("SIGTERM", () => mdns.destroy(() => process.exit(0)));
}
