// Records what crosses a broker, for tests that must show what did not cross it: subscribes to a
// topic filter and appends every payload to a file as [u32 topic length | topic | u32 length | payload].
// `bun mqtt-sniffer.test-helper.ts <mqtt-url> <username> <password> <filter> <out-file>`; prints one
// JSON line when subscribed, then runs until killed.
import { appendFileSync, writeFileSync } from "node:fs";
import { connect } from "mqtt";

if (import.meta.main) {
  const [url, username, password, filter, outFile] = process.argv.slice(2) as [
    string,
    string,
    string,
    string,
    string,
  ];
  writeFileSync(outFile, new Uint8Array(0));
  const client = connect(url, {
    username,
    password,
    clientId: `sniffer-${process.pid}`,
    reconnectPeriod: 500,
    connectTimeout: 5000,
  });
  client.on("message", (topic, payload) => {
    const t = Buffer.from(topic);
    const head = Buffer.alloc(4);
    head.writeUInt32LE(t.length);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(payload.length);
    appendFileSync(outFile, Buffer.concat([head, t, len, payload]));
  });
  client.on("connect", () => {
    client.subscribe(filter, { qos: 1 }, (err) => {
      console.log(JSON.stringify({ subscribed: !err, error: err ? String(err) : undefined }));
    });
  });
  client.on("error", (err) => console.log(JSON.stringify({ error: String(err) })));
}

/** Reads what the sniffer recorded. */
export function readSniffed(bytes: Uint8Array): { topic: string; payload: Uint8Array }[] {
  const buf = Buffer.from(bytes);
  const out: { topic: string; payload: Uint8Array }[] = [];
  for (let at = 0; at + 8 <= buf.length; ) {
    const tl = buf.readUInt32LE(at);
    const topic = buf.subarray(at + 4, at + 4 + tl).toString();
    const pl = buf.readUInt32LE(at + 4 + tl);
    out.push({ topic, payload: buf.subarray(at + 8 + tl, at + 8 + tl + pl) });
    at += 8 + tl + pl;
  }
  return out;
}
