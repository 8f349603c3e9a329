// Data folders of enrolled devices for the multi-process tests: keys, certificate and fleet info
// written the way `kiana fleet join` writes them.
import { encodeCertificate } from "../identity/enrolment.ts";
import { encodeFleetInfo } from "../identity/fleet-authority.ts";
import { joinFleet } from "../identity/fleet-membership.ts";
import { loadNodeKeys } from "../identity/node-keys.ts";
import { enrolNode, tempDir, type testFleet } from "../identity/test-fleet.test-helper.ts";

export function enrolledDataDir(
  authority: ReturnType<typeof testFleet>,
  name: string,
  role: "hub" | "node" | "satellite",
): string {
  const dataDir = tempDir(`kiana-${name}-`);
  const keys = loadNodeKeys({ dataDir });
  const { cert } = enrolNode(authority, name, { role, keys, now: Date.now() });
  joinFleet({
    dataDir,
    keys,
    certificateText: encodeCertificate(cert),
    fleetInfoText: encodeFleetInfo(authority),
    now: Date.now(),
  });
  return dataDir;
}
