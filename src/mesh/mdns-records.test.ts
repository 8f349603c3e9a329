import { expect, test } from "bun:test";
import { ConfigSchema } from "../config/schema.ts";
import {
  buildServiceRecords,
  kianaInstanceName,
  kianaTxt,
  parseTxt,
  UNCONFIGURED_NAME,
} from "./mdns-records.ts";

const FP = "3f2a91c0".padEnd(32, "0");
const base = { fingerprint: FP, role: "node", version: "0.1.0", adminPort: 8080, fleet: "dev" };
const utf8 = new TextEncoder();

test("the TXT record carries setup and enrolment state as one byte each, and they parse back", () => {
  const txt = kianaTxt({ ...base, setUp: false, enrolled: true });
  expect(txt).toMatchObject({ setup: "0", enrolled: "1" });
  const set = buildServiceRecords({
    type: "kiana",
    instance: "kitchen",
    hostname: "kiana-kitchen",
    port: 8080,
    txt,
    addresses: ["10.0.0.7"],
  });
  const strings = (set.txt.data as string[]).map((s) => utf8.encode(s));
  expect(parseTxt("kiana", strings)).toEqual({ txt, problems: [] });
  // Small enough for one packet with everything else: well under the 200 bytes RFC 6763 §6.2 suggests.
  expect(strings.reduce((n, s) => n + s.length + 1, 0)).toBeLessThan(200);
  // A caller that does not know the state leaves the keys out rather than guessing.
  expect(Object.keys(kianaTxt(base))).not.toContain("setup");
});

test("a bad setup or enrolled value is refused when building and ignored when parsing", () => {
  expect(() =>
    buildServiceRecords({
      type: "kiana",
      instance: "x",
      hostname: "kiana-x",
      port: 1,
      txt: { setup: "yes" },
      addresses: [],
    }),
  ).toThrow('TXT setup="yes" is not valid');
  const parsed = parseTxt("kiana", [utf8.encode("enrolled=2"), utf8.encode("setup=1")]);
  expect(parsed.txt).toEqual({ setup: "1" });
  expect(parsed.problems).toEqual(['TXT enrolled="2" is not valid']);
});

test("an unenrolled device still called by the default name advertises a name of its own", () => {
  expect(UNCONFIGURED_NAME).toBe(ConfigSchema.properties.node.properties.name.default);
  expect(kianaInstanceName("kiana", FP, false)).toBe("kiana-3f2a");
  expect(kianaInstanceName("kiana", "b7".padEnd(32, "1"), false)).toBe("kiana-b711");
  // A name somebody chose, or a certificate's name, is kept as it is.
  expect(kianaInstanceName("kitchen", FP, false)).toBe("kitchen");
  expect(kianaInstanceName("kiana", FP, true)).toBe("kiana");
});
