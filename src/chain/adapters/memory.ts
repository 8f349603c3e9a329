// In-memory ChainStore for tests and short-lived tools. It holds everything in RAM by nature; the
// SQLite store is the one a board runs on.
import { checkAppend, checkRoot } from "../append-check.ts";
import type { ChainStore, StoredBlock } from "../ports.ts";
import type { SignedRoot } from "../signed-root.ts";

interface Log {
  blocks: StoredBlock[];
  nodes: Map<number, Uint8Array>;
  /** By length; the first root kept at a length wins, as in the SQLite store. */
  roots: Map<number, SignedRoot>;
}

const copy = (b: Uint8Array) => new Uint8Array(b);
const copyBlock = (s: StoredBlock): StoredBlock => ({
  block: { ...s.block, prev: copy(s.block.prev), body: copy(s.block.body) },
  hash: copy(s.hash),
});
const copyRoot = (r: SignedRoot): SignedRoot => ({ ...r, root: copy(r.root), signature: copy(r.signature) });

export function createMemoryChainStore(): ChainStore {
  const logs = new Map<string, Log>();
  const logOf = (author: string): Log => {
    let log = logs.get(author);
    if (!log) {
      log = { blocks: [], nodes: new Map(), roots: new Map() };
      logs.set(author, log);
    }
    return log;
  };
  const length = (author: string) => logs.get(author)?.blocks.length ?? 0;

  return {
    append(batch) {
      // Every check runs before the first write, so a refusal leaves nothing behind; copies keep
      // callers from mutating stored state afterwards (as they cannot with SQLite).
      checkAppend(batch, length(batch.author));
      const log = logOf(batch.author);
      for (const b of batch.blocks) log.blocks.push(copyBlock(b));
      for (const n of batch.nodes) log.nodes.set(n.index, copy(n.hash));
      if (batch.root && !log.roots.has(batch.root.length)) {
        log.roots.set(batch.root.length, copyRoot(batch.root));
        // As in the SQLite store: an appended root supersedes the older ones.
        for (const len of log.roots.keys()) if (len < batch.root.length) log.roots.delete(len);
      }
    },
    length,
    block(author, seq) {
      const found = logs.get(author)?.blocks[seq];
      return found ? copyBlock(found) : undefined;
    },
    *blocks(author, from, to) {
      const log = logs.get(author);
      if (!log) return;
      for (let seq = Math.max(0, from); seq < Math.min(to, log.blocks.length); seq++) {
        const found = log.blocks[seq];
        if (found) yield copyBlock(found);
      }
    },
    node(author, index) {
      const log = logs.get(author);
      if (!log || !Number.isSafeInteger(index) || index < 0) return undefined;
      const hash = index % 2 === 0 ? log.blocks[index / 2]?.hash : log.nodes.get(index);
      return hash ? copy(hash) : undefined;
    },
    latestSignedRoot(author) {
      const roots = logs.get(author)?.roots;
      if (!roots || roots.size === 0) return undefined;
      const longest = roots.get(Math.max(...roots.keys()));
      return longest ? copyRoot(longest) : undefined;
    },
    putSignedRoot(root) {
      checkRoot(root, length(root.author));
      const log = logOf(root.author);
      if (!log.roots.has(root.length)) log.roots.set(root.length, copyRoot(root));
    },
    authors() {
      return [...logs.entries()]
        .filter(([, log]) => log.blocks.length > 0 || log.roots.size > 0)
        .map(([author]) => author)
        .sort();
    },
  };
}
