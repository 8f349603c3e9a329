// The identity capability: this node's keys, the fleet authority, enrolment certificates and the
// exact bytes every signature covers.
export {
  type Certificate,
  type CertificateVerdict,
  certificateFingerprint,
  createCertificateCache,
  decodeCertificate,
  encodeCertificate,
  formatPublicKeys,
  parsePublicKeys,
  type Role,
  verifyCertificate,
} from "./enrolment.ts";
export {
  createFleetAuthority,
  decodeFleetInfo,
  encodeFleetInfo,
  type FleetAuthority,
  type FleetInfo,
  issueCertificate,
  loadFleetAuthority,
} from "./fleet-authority.ts";
export { joinFleet, loadMembership, type Membership } from "./fleet-membership.ts";
export {
  fingerprintOf,
  formatFingerprint,
  loadNodeKeys,
  type NodeKeys,
  publicKeyFromRaw,
  verifySignature,
} from "./node-keys.ts";
export { DOMAIN } from "./signed-bytes.ts";
