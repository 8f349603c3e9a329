// A satellite's `_wyoming._tcp` advertisement over real mDNS between two network namespaces: the
// hub's discovery finds it and describes it over Wyoming, a plain DNS-SD browser (what Home
// Assistant's zeroconf sees) gets PTR, SRV, TXT and A, and the satellite's goodbye removes it.
import { afterAll, expect, test } from "bun:test";
import { resolve } from "node:path";
import {
  createNetnsLan,
  listNamespaces,
  type NetnsLan,
  type WatchedProcess,
  waitFor,
  watch,
} from "../../mesh/netns.test-helper.ts";

const HELPER = resolve(import.meta.dir, "wyoming-mdns.test-helper.ts");
const INSTANCE = "Kitchen satellite";

let lan: NetnsLan | undefined;
const procs: WatchedProcess[] = [];

afterAll(async () => {
  for (const p of procs) p.proc.kill("SIGKILL");
  await Promise.all(procs.map((p) => p.proc.exited));
  lan?.teardown();
  // Only our own: a parallel run's namespaces share the prefix.
  if (lan) expect(listNamespaces(`${lan.tag}-`)).toEqual([]);
});

type Found = { instance: string; host: string; port: number }[];
type WireRecord = { name: string; type: string; ttl: number; data: unknown };

test("the hub finds a satellite over mDNS, describes it over Wyoming and drops it after its goodbye", async () => {
  lan = createNetnsLan(2, "ktwy");
  const [satNs, hubNs] = lan.hosts as [string, string];
  const satAddress = lan.addresses[0];
  const sat = watch(lan.run(satNs, [process.execPath, HELPER, "--mode=satellite", `--instance=${INSTANCE}`]));
  procs.push(sat);
  await waitFor(
    "the satellite to listen and advertise",
    () => sat.lines.some((l) => l.event === "ready"),
    10_000,
    [sat],
  );
  const hub = watch(lan.run(hubNs, [process.execPath, HELPER, "--mode=hub"]));
  const browser = watch(lan.run(hubNs, [process.execPath, HELPER, "--mode=browser"]));
  procs.push(hub, browser);
  const all = [sat, hub, browser];

  const latestFound = () => (hub.lines.filter((l) => l.event === "found").at(-1)?.found as Found) ?? [];
  const found = await waitFor("the hub to find the satellite", () => latestFound().length === 1, 15_000, all);
  expect(latestFound()).toEqual([{ instance: INSTANCE, host: satAddress as string, port: 10700 }]);
  await waitFor("the hub to describe it", () => hub.lines.some((l) => l.event === "info"), 5000, all);
  expect(hub.lines.find((l) => l.event === "info")).toEqual({
    event: "info",
    instance: INSTANCE,
    satellite: "kitchen",
  });

  // What a Home Assistant-style browser needs: the instance under `_wyoming._tcp.local`, its SRV to
  // the port and host, a TXT record (empty: HA asks `describe`), and an A record for the host.
  const records = () =>
    browser.lines.flatMap((l) => (l.event === "response" ? (l.records as WireRecord[]) : []));
  const fqdn = `${INSTANCE}._wyoming._tcp.local`;
  const has = (type: string, name: string) => records().some((r) => r.type === type && r.name === name);
  await waitFor(
    "the browser to see PTR, SRV, TXT and A",
    () =>
      has("PTR", "_wyoming._tcp.local") &&
      has("SRV", fqdn) &&
      has("TXT", fqdn) &&
      has("A", "kiana-kitchen.local"),
    10_000,
    all,
  );
  const pick = (type: string, name: string) => records().find((r) => r.type === type && r.name === name);
  expect(pick("PTR", "_wyoming._tcp.local")?.data).toBe(fqdn);
  expect(pick("SRV", fqdn)?.data).toMatchObject({ port: 10700, target: "kiana-kitchen.local" });
  expect(pick("TXT", fqdn)?.data).toEqual([""]);
  expect(
    records()
      .filter((r) => r.type === "A" && r.name === "kiana-kitchen.local")
      .map((r) => r.data),
  ).toContain(satAddress);
  expect(pick("SRV", fqdn)?.ttl).toBeGreaterThan(0);

  // A clean stop sends goodbyes: the hub forgets the satellite without waiting out the 120 s TTL.
  sat.proc.kill("SIGTERM");
  const dropped = await waitFor("the hub to drop the satellite", () => latestFound().length === 0, 5000, all);
  expect(sat.lines.some((l) => l.event === "stopped")).toBe(true);
  expect(records().some((r) => r.name === fqdn && r.type === "SRV" && r.ttl === 0)).toBe(true);
  console.log(
    `wyoming mdns netns: found in ${found.toFixed(0)} ms, goodbye honoured in ${dropped.toFixed(0)} ms`,
  );
}, 45_000);
