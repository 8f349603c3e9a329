// The `_wyoming._tcp` DNS-SD records that let Home Assistant discover a satellite or the hub's speech
// services, as plain values in the mesh's record-set shape; the mesh's mDNS responder sends them.
import { isIPv4, isIPv6 } from "node:net";
import { kianaError } from "../../errors.ts";
import {
  type Answer,
  DEFAULT_TTL_S,
  ENUMERATION_DOMAIN,
  hostFqdn,
  type ServiceRecordSet,
} from "../../mesh/mdns-records.ts";
import { WYOMING_SATELLITE_PORT } from "./server.ts";

export const WYOMING_SERVICE_DOMAIN = "_wyoming._tcp.local";

export interface WyomingServiceSpec {
  /** Shown by Home Assistant as the discovered device, e.g. "Kitchen satellite". */
  instance: string;
  /** `kiana-kitchen` or `kiana-kitchen.local`. */
  hostname: string;
  /** Default 10700. */
  port?: number;
  addresses: readonly string[];
  /**
   * Extra TXT entries. Home Assistant needs none (it asks the service with `describe`), and
   * wyoming-satellite publishes none, so the default is an empty TXT record.
   */
  txt?: Record<string, string>;
  ttl?: number;
}

const utf8 = new TextEncoder();

/**
 * A user's device name as an instance label: dots would split the DNS name (the mesh's encoder
 * does not escape them), and a label holds at most 63 bytes.
 */
export function wyomingInstanceName(name: string): string {
  const printable = [...name].filter((ch) => ch >= " " && ch !== "\x7f").join("");
  let label = printable.replace(/\./g, "-").trim();
  while (utf8.encode(label).length > 63) label = [...label].slice(0, -1).join("");
  return label || "kiana";
}

/** Builds the record set; throws on our own bad values (a config bug, caught at start). */
export function wyomingServiceRecords(spec: WyomingServiceSpec): ServiceRecordSet {
  const ttl = spec.ttl ?? DEFAULT_TTL_S;
  const port = spec.port ?? WYOMING_SATELLITE_PORT;
  const label = spec.instance;
  if (!label || label.includes(".") || utf8.encode(label).length > 63) {
    throw kianaError(
      "CONFIG_INVALID",
      `wyoming mdns: instance name "${label}" must be 1-63 bytes without dots`,
      {
        instance: label,
      },
    );
  }
  const host = hostFqdn(spec.hostname);
  if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.local$/.test(host)) {
    throw kianaError("CONFIG_INVALID", `wyoming mdns: hostname "${spec.hostname}" is not a DNS label`, {
      hostname: spec.hostname,
    });
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw kianaError("CONFIG_INVALID", `wyoming mdns: port ${port} out of range`, { port });
  }
  const strings: string[] = [];
  for (const [key, value] of Object.entries(spec.txt ?? {})) {
    const entry = `${key}=${value}`;
    if (!/^[\x21-\x3c\x3e-\x7e]{1,9}$/.test(key) || utf8.encode(entry).length > 255) {
      throw kianaError(
        "CONFIG_INVALID",
        `wyoming mdns: TXT entry "${key}" has a bad key or is over 255 bytes`,
        { key },
      );
    }
    strings.push(entry);
  }
  const hosts: Answer[] = [];
  for (const address of new Set(spec.addresses)) {
    if (isIPv4(address)) hosts.push({ name: host, type: "A", ttl, flush: true, data: address });
    else if (isIPv6(address)) hosts.push({ name: host, type: "AAAA", ttl, flush: true, data: address });
    else throw kianaError("CONFIG_INVALID", `wyoming mdns: "${address}" is not an IP address`, { address });
  }
  const instance = `${label}.${WYOMING_SERVICE_DOMAIN}`;
  return {
    // PTR is shared by every Wyoming peer on the link, so it carries no cache-flush bit.
    ptr: { name: WYOMING_SERVICE_DOMAIN, type: "PTR", ttl, data: instance },
    srv: { name: instance, type: "SRV", ttl, flush: true, data: { target: host, port } },
    // RFC 6763 §6.1: "no TXT data" is sent as one empty string.
    txt: { name: instance, type: "TXT", ttl, flush: true, data: strings.length ? strings : [""] },
    hosts,
    enumeration: { name: ENUMERATION_DOMAIN, type: "PTR", ttl, data: WYOMING_SERVICE_DOMAIN },
  };
}
