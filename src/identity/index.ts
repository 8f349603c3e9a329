// The identity capability: this node's keys and fingerprint.
export {
  fingerprintOf,
  formatFingerprint,
  loadNodeKeys,
  type NodeKeys,
  publicKeyFromRaw,
  verifySignature,
} from "./node-keys.ts";
