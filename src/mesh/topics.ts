// The MQTT topic tree, `kiana/v1/<fleet>/<node>/...`, and MQTT wildcard matching.

export const TOPIC_ROOT = "kiana/v1";

const LEVEL = /^[a-z0-9][a-z0-9._-]*$/i;

function checkLevel(name: string, value: string): string {
  if (!LEVEL.test(value)) throw new Error(`${name} ${JSON.stringify(value)} is not a valid topic level`);
  return value;
}

export function nodeTopic(fleet: string, node: string, ...rest: string[]): string {
  return [
    TOPIC_ROOT,
    checkLevel("fleet", fleet),
    checkLevel("node", node),
    ...rest.map((r) => checkLevel("topic", r)),
  ].join("/");
}

export function fleetPattern(fleet: string, ...rest: string[]): string {
  return [TOPIC_ROOT, checkLevel("fleet", fleet), ...rest].join("/");
}

/** MQTT 3.1.1 / 5 topic filter matching (`+` one level, `#` this level and below, last only). */
export function topicMatches(pattern: string, topic: string): boolean {
  const p = pattern.split("/");
  const t = topic.split("/");
  for (let i = 0; i < p.length; i++) {
    const seg = p[i];
    if (seg === "#") return i === p.length - 1;
    if (i >= t.length) return false;
    if (seg !== "+" && seg !== t[i]) return false;
  }
  return p.length === t.length;
}
