// Switching a configured device: checks the device list once, then builds the MQTT command.
// Topic `kiana/v1/<fleet>/<node>/device/<id>/set`, payload `{"state":"on"|"off"}`: the hub may
// write the whole fleet tree, and the node that owns the device subscribes to its `device/+/set`.
import { kianaError } from "../errors.ts";
import { nodeTopic } from "../mesh/topics.ts";
import { type DeviceEntity, normalizeText } from "./entities.ts";

export type DeviceState = "on" | "off";

export interface DeviceCommand {
  topic: string;
  payload: string;
}

const LEVEL = /^[a-z0-9][a-z0-9._-]*$/i;

/**
 * Refuses (CONFIG_INVALID) a device list the assistant could not act on safely: ids or nodes that
 * are not topic levels, a repeated id, or one spoken name for two devices (which would be a guess).
 */
export function checkDevices(devices: readonly DeviceEntity[]): void {
  const ids = new Set<string>();
  const names = new Map<string, string>();
  for (const d of devices) {
    const fail = (why: string) =>
      kianaError("CONFIG_INVALID", `device ${JSON.stringify(d.id)}: ${why}`, { id: d.id });
    if (typeof d.id !== "string" || !LEVEL.test(d.id)) throw fail("the id must be letters, digits, . _ or -");
    if (d.node !== undefined && !LEVEL.test(d.node))
      throw fail(`node ${JSON.stringify(d.node)} is not a node name`);
    if (ids.has(d.id)) throw fail("the id is used twice");
    ids.add(d.id);
    for (const name of [d.name, ...(d.aliases ?? [])]) {
      const spoken = normalizeText(name ?? "").join(" ");
      if (spoken === "") throw fail("a name or alias has no words");
      const other = names.get(spoken);
      if (other !== undefined && other !== d.id) throw fail(`"${spoken}" also names device ${other}`);
      names.set(spoken, d.id);
    }
  }
}

/** The command that sets `device` on or off; the device's own node, else `defaultNode` (the hub). */
export function deviceCommand(
  device: DeviceEntity,
  state: DeviceState,
  where: { fleet: string; defaultNode: string },
): DeviceCommand {
  const node = device.node ?? where.defaultNode;
  try {
    return {
      topic: nodeTopic(where.fleet, node, "device", device.id, "set"),
      payload: JSON.stringify({ state }),
    };
  } catch (err) {
    throw kianaError(
      "CONFIG_INVALID",
      `device ${device.id} has no valid topic`,
      { fleet: where.fleet, node },
      err,
    );
  }
}
