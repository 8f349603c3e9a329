// A node's summary of what it can serve: the latest signed root of every log it holds, and one
// digest over them all, so that two nodes in sync learn it from a 40-byte hello.
import { createHash } from "node:crypto";
import type { ChainStore } from "../ports.ts";
import type { Head } from "./wire.ts";

/** Latest signed roots by author, sorted; logs without a signed root are not served. */
export function localHeads(store: ChainStore): Head[] {
  const heads: Head[] = [];
  for (const author of store.authors()) {
    const r = store.latestSignedRoot(author);
    if (r) heads.push({ author, length: r.length, root: r.root, ts: r.ts, signature: r.signature });
  }
  return heads;
}

/** Order-independent of how heads were gathered: they are sorted by author before hashing. */
export function headsDigest(heads: readonly Head[]): Uint8Array {
  const h = createHash("sha256");
  const length = Buffer.alloc(8);
  for (const head of [...heads].sort((a, b) => (a.author < b.author ? -1 : 1))) {
    length.writeBigUInt64BE(BigInt(head.length));
    h.update(Buffer.from(head.author, "hex")).update(length).update(head.root);
  }
  return new Uint8Array(h.digest());
}
