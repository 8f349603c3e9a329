// Turns a seed's netplan v2 subset into the files the image's network stack reads: one
// systemd-networkd .network file per interface, and a wpa_supplicant config per wireless one.
// Pure: the caller writes the files. Wi-Fi passphrases become PSKs, so the root file system never
// holds the plaintext password.
import { pbkdf2Sync } from "node:crypto";
import type { NetworkConfig, NetworkInterface, WifiInterface } from "./network.ts";

export interface PlannedFile {
  /** Relative to the target root, without a leading slash. */
  path: string;
  text: string;
  mode: number;
  /** A symlink instead of a file: `text` is its target. */
  symlink?: boolean;
}

/** Where networkd looks; our files sort before the image's catch-all DHCP file (e.g. 90-dhcp). */
export const NETWORKD_DIR = "etc/systemd/network";
export const NETWORKD_PREFIX = "10-kiana-";

function networkSection(iface: NetworkInterface | WifiInterface): string[] {
  const lines = ["[Network]"];
  if (iface.dhcp4) lines.push("DHCP=ipv4");
  for (const a of iface.addresses ?? []) lines.push(`Address=${a}`);
  const defaults = (iface.routes ?? []).filter(
    (r) => r.to === "default" || /^0\.0\.0\.0\/0$|^::\/0$/.test(r.to),
  );
  if (iface.gateway4) lines.push(`Gateway=${iface.gateway4}`);
  for (const r of defaults) lines.push(`Gateway=${r.via}`);
  for (const d of iface.nameservers?.addresses ?? []) lines.push(`DNS=${d}`);
  const search = iface.nameservers?.search ?? [];
  if (search.length) lines.push(`Domains=${search.join(" ")}`);
  for (const r of iface.routes ?? []) {
    if (defaults.includes(r)) continue;
    lines.push("", "[Route]", `Destination=${r.to}`, `Gateway=${r.via}`);
  }
  return lines;
}

function networkFile(
  source: string,
  match: { name?: string; macaddress?: string },
  iface: NetworkInterface | WifiInterface,
): string {
  const lines = [`# Written by kiana firstboot from the seed's network-config (${source}).`, "[Match]"];
  if (match.name) lines.push(`Name=${match.name}`);
  if (match.macaddress) lines.push(`MACAddress=${match.macaddress.toLowerCase()}`);
  // An optional link (Wi-Fi next to a cable) must not hold up network-online.target.
  if (iface.optional) lines.push("", "[Link]", "RequiredForOnline=no");
  lines.push("", ...networkSection(iface));
  return `${lines.join("\n")}\n`;
}

/** The 256-bit WPA key wpa_passphrase derives: PBKDF2-HMAC-SHA1(passphrase, ssid, 4096). */
export function wpaPsk(ssid: string, passphrase: string): string {
  if (/^[0-9a-fA-F]{64}$/.test(passphrase)) return passphrase.toLowerCase();
  return pbkdf2Sync(passphrase, ssid, 4096, 32, "sha1").toString("hex");
}

function wpaConfig(id: string, wifi: WifiInterface): string {
  const lines = [
    `# Written by kiana firstboot from the seed's network-config (wifis.${id}). SECRET: holds the keys.`,
    "ctrl_interface=DIR=/run/wpa_supplicant GROUP=netdev",
    "update_config=0",
  ];
  if (wifi["regulatory-domain"]) lines.push(`country=${wifi["regulatory-domain"]}`);
  for (const [ssid, ap] of Object.entries(wifi["access-points"])) {
    // Hex SSIDs need no quoting rules, whatever characters the network name has.
    lines.push("", "network={", `\tssid=${Buffer.from(ssid).toString("hex")}`);
    if (ap?.password !== undefined) lines.push(`\tpsk=${wpaPsk(ssid, ap.password)}`);
    else lines.push("\tkey_mgmt=NONE");
    if (ap?.hidden) lines.push("\tscan_ssid=1");
    lines.push("}");
  }
  return `${lines.join("\n")}\n`;
}

/** Every file (and enablement link) the seed's network needs; empty without a network-config. */
export function networkdFiles(net: NetworkConfig | undefined): PlannedFile[] {
  if (!net) return [];
  const out: PlannedFile[] = [];
  for (const [id, iface] of Object.entries(net.ethernets ?? {})) {
    const match = iface.match ?? { name: id };
    out.push({
      path: `${NETWORKD_DIR}/${NETWORKD_PREFIX}${id}.network`,
      text: networkFile(`ethernets.${id}`, match, iface),
      mode: 0o644,
    });
  }
  for (const [id, wifi] of Object.entries(net.wifis ?? {})) {
    out.push(
      {
        path: `${NETWORKD_DIR}/${NETWORKD_PREFIX}${id}.network`,
        text: networkFile(`wifis.${id}`, { name: id }, wifi),
        mode: 0o644,
      },
      { path: `etc/wpa_supplicant/wpa_supplicant-${id}.conf`, text: wpaConfig(id, wifi), mode: 0o600 },
      {
        // Debian's wpa_supplicant@.service reads /etc/wpa_supplicant/wpa_supplicant-%I.conf.
        path: `etc/systemd/system/multi-user.target.wants/wpa_supplicant@${id}.service`,
        text: "/lib/systemd/system/wpa_supplicant@.service",
        mode: 0o777,
        symlink: true,
      },
    );
  }
  return out;
}
