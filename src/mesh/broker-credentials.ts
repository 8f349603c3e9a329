// A device's password at the hub's broker, derived on both ends from an X25519 agreement between
// the device and the hub: the hub learns the device's certificate at join, and no secret is sent.
import { hkdfSync } from "node:crypto";
import type { NodeKeys } from "../identity/node-keys.ts";
import { brokerPasswordInfo } from "../identity/signed-bytes.ts";

export function brokerPassword(opts: {
  ownKeys: Pick<NodeKeys, "agree">;
  peerAgreementKey: Uint8Array;
  deviceFp: string;
  hubFp: string;
}): string {
  const shared = opts.ownKeys.agree(opts.peerAgreementKey);
  const key = hkdfSync(
    "sha256",
    shared,
    new Uint8Array(0),
    brokerPasswordInfo(opts.deviceFp, opts.hubFp),
    32,
  );
  return Buffer.from(key).toString("base64url");
}
