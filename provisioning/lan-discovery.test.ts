import { expect, test } from "bun:test";
import { adminUrl, type DiscoveredService, deviceState } from "./lan-discovery.ts";

const service = (txt: Record<string, string>, addresses = ["10.0.0.7"]): DiscoveredService => ({
  type: "kiana",
  instance: "kiana-3f2a",
  host: "kiana-kiana-3f2a.local",
  port: 8080,
  addresses,
  txt,
  ttl: 120,
  seenAt: 0,
  problems: [],
});

test("a device's state comes from its TXT record: setup and enrolment, and whose fleet", () => {
  expect(deviceState(service({ fleet: "dev", setup: "0", enrolled: "0" }), "home")).toBe("awaiting setup");
  expect(deviceState(service({ fleet: "dev", setup: "1", enrolled: "0" }), "home")).toBe("set up");
  expect(deviceState(service({ fleet: "home", setup: "1", enrolled: "1" }), "home")).toBe("member");
  expect(deviceState(service({ fleet: "work", setup: "1", enrolled: "1" }), "home")).toBe("other fleet");
  // Configured for our fleet but holding no certificate is not membership.
  expect(deviceState(service({ fleet: "home", setup: "1", enrolled: "0" }), "home")).toBe("set up");
  // A runtime without the keys: only its advertised fleet is known.
  expect(deviceState(service({ fleet: "home" }), "home")).toBe("member?");
  expect(deviceState(service({ fleet: "dev" }), "home")).toBe("unknown");
});

test("the admin URL uses the advertised admin port and brackets IPv6", () => {
  expect(adminUrl(service({ admin: "9000" }))).toBe("http://10.0.0.7:9000/");
  expect(adminUrl(service({}, ["fd00::7"]))).toBe("http://[fd00::7]:8080/");
  expect(adminUrl(service({}, []))).toBeUndefined();
});
