// A process for the Wyoming mDNS integration test, run inside a network namespace and printing JSON
// lines on stdout. `--mode satellite`: a Wyoming server plus its `_wyoming._tcp` advertiser.
// `--mode hub`: the hub's discovery, asking every found server `describe`. `--mode browser`: a plain
// DNS-SD browser on multicast-dns, as Home Assistant's zeroconf asks, printing the raw records.
import { parseArgs } from "node:util";
import makeMdns from "multicast-dns";
import { createLogger } from "../../platform/log.ts";
import { createWyomingAdvertiser } from "../satellite/advertise.ts";
import {
  connectWyoming,
  createWyomingServer,
  readEvent,
  WYOMING_SERVICE_DOMAIN,
  wyomingEvent,
} from "../wyoming/index.ts";
import { SATELLITE_INFO } from "../wyoming/wyoming.test-helper.ts";
import { browseWyoming, type FoundWyoming } from "./discovery.ts";

const { values: args } = parseArgs({
  options: {
    mode: { type: "string", default: "satellite" },
    instance: { type: "string", default: "Kitchen satellite" },
    hostname: { type: "string", default: "kiana-kitchen" },
    port: { type: "string", default: "10700" },
    "max-ms": { type: "string", default: "60000" },
  },
});

const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
// Never outlive a test that forgot us.
setTimeout(() => process.exit(3), Number(args["max-ms"])).unref();
const log = createLogger({ level: "debug", format: "json", write: (line) => process.stderr.write(line) });

if (args.mode === "satellite") await runSatellite();
else if (args.mode === "hub") runHub();
else runBrowser();

async function runSatellite() {
  const server = createWyomingServer({
    port: Number(args.port),
    info: () => SATELLITE_INFO,
    onEvent() {},
    log,
  });
  const advertiser = createWyomingAdvertiser({
    instance: args.instance ?? "",
    hostname: args.hostname ?? "",
    port: server.port,
    log,
  });
  await advertiser.start();
  print({ event: "ready", port: server.port });
  process.on("SIGTERM", () => {
    void advertiser
      .stop()
      .then(() => server.close())
      .then(() => {
        print({ event: "stopped" });
        process.exit(0);
      });
  });
}

function runHub() {
  const described = new Set<string>();
  const describe = async (f: FoundWyoming) => {
    const client = await connectWyoming({ host: f.host, port: f.port, log });
    await client.send(wyomingEvent("describe", {}));
    for await (const event of client.events) {
      const info = readEvent(event, "info");
      if (!info) continue;
      print({ event: "info", instance: f.instance, satellite: info.satellite?.name ?? null });
      break;
    }
    client.close("described");
  };
  browseWyoming({
    log,
    onChange(found) {
      print({ event: "found", found });
      for (const f of found) {
        const key = `${f.host}:${f.port}`;
        if (described.has(key)) continue;
        described.add(key);
        describe(f).catch((err) => print({ event: "describe-failed", error: String(err) }));
      }
    },
  });
}

function runBrowser() {
  const mdns = makeMdns();
  const text = (d: unknown) => (d instanceof Uint8Array ? Buffer.from(d).toString("utf8") : d);
  mdns.on("response", (packet) => {
    // Loosely typed: the fields every record but OPT carries, which a Wyoming response never holds.
    const all = [...packet.answers, ...(packet.additionals ?? [])] as unknown as {
      name: string;
      type: string;
      ttl: number;
      data: unknown;
    }[];
    const records = all.map((r) => ({
      name: r.name,
      type: r.type,
      ttl: r.ttl,
      data: Array.isArray(r.data) ? r.data.map(text) : text(r.data),
    }));
    if (records.some((r) => r.name.toLowerCase().endsWith(WYOMING_SERVICE_DOMAIN)))
      print({ event: "response", records });
  });
  const ask = () => mdns.query({ questions: [{ name: WYOMING_SERVICE_DOMAIN, type: "PTR" }] });
  ask();
  setInterval(ask, 1000);
}
