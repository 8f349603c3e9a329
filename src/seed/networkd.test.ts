import { expect, test } from "bun:test";
import { networkdFiles, wpaPsk } from "./networkd.ts";

test("the Wi-Fi key is wpa_passphrase's (IEEE 802.11i test vector), and a 64-hex key is kept", () => {
  expect(wpaPsk("IEEE", "password")).toBe("f42c6fc52df0ebef9ebb4b90b38a5f902e83fe1b135a70e23aed762e9710a12e");
  expect(wpaPsk("x", "A".repeat(64))).toBe("a".repeat(64));
});

test("match by MAC, optional links, extra routes, open and hidden networks", () => {
  const files = networkdFiles({
    version: 2,
    ethernets: {
      lan: {
        match: { macaddress: "DC:A6:32:01:02:03" },
        dhcp4: true,
        optional: true,
        routes: [{ to: "10.0.0.0/8", via: "192.168.1.254" }],
      },
    },
    wifis: {
      wlan0: {
        dhcp4: true,
        "access-points": { Cafe: {}, 'Hidden "x"': { password: "12345678", hidden: true } },
      },
    },
  });
  const byPath = Object.fromEntries(files.map((f) => [f.path, f]));
  expect(byPath["etc/systemd/network/10-kiana-lan.network"]?.text).toBe(
    "# Written by kiana firstboot from the seed's network-config (ethernets.lan).\n[Match]\nMACAddress=dc:a6:32:01:02:03\n\n[Link]\nRequiredForOnline=no\n\n[Network]\nDHCP=ipv4\n\n[Route]\nDestination=10.0.0.0/8\nGateway=192.168.1.254\n",
  );
  const wpa = byPath["etc/wpa_supplicant/wpa_supplicant-wlan0.conf"];
  expect(wpa?.mode).toBe(0o600);
  expect(wpa?.text).toContain(`ssid=${Buffer.from("Cafe").toString("hex")}\n\tkey_mgmt=NONE\n`);
  expect(wpa?.text).toContain(
    `ssid=${Buffer.from('Hidden "x"').toString("hex")}\n\tpsk=${wpaPsk('Hidden "x"', "12345678")}\n\tscan_ssid=1\n`,
  );
  expect(wpa?.text).not.toContain("12345678\n");
  expect(networkdFiles(undefined)).toEqual([]);
});
