// `kiana chain append|show|verify`: this device's view of the knowledge chain, beside a running node
// (SQLite WAL lets both use the database). Signing uses this device's own key.
import type { KianaConfig } from "../config/index.ts";
import { kianaError } from "../errors.ts";
import { capabilityLogger, type Logger } from "../platform/log.ts";
import { openCore } from "./core.ts";

export const CHAIN_USAGE = `kiana chain append --type TYPE --text TEXT     sign and store a block in this device's log
kiana chain show [--author FP] [--type T] [--since ISO-DATE] [--grep WORD] [--limit N] [--json]
kiana chain verify                                 recompute every log; exit 1 naming the first bad block
kiana chain sync --peer URL|NAME|FINGERPRINT [--json]  pull what this device lacks from a peer, verified
kiana chain status [--json]                        validators, checkpoints, authors and their trust
kiana chain checkpoint                             propose (and endorse) a checkpoint now, as a validator
kiana chain vote add-validator|remove-validator --validator FP
kiana chain vote confirm|dispute --author FP --seq N  vote on a knowledge block`;

const utf8 = new TextDecoder("utf-8", { fatal: false });

export async function runChainCommand(
  sub: string | undefined,
  flags: Record<string, string>,
  json: boolean,
  config: Readonly<KianaConfig>,
  log: Logger,
  words: readonly string[] = [],
): Promise<number> {
  if (sub === "sync") return (await import("./chain-sync.ts")).runChainSync(flags, json, config, log);
  if (sub === "status" || sub === "checkpoint" || sub === "vote")
    return (await import("./chain-authority.ts")).runChainAuthority(sub, words, flags, json, config, log);
  const [{ loadNodeKeys }, chain, { systemClock }] = await Promise.all([
    import("../identity/index.ts"),
    import("../chain/index.ts"),
    import("../platform/clock.ts"),
  ]);
  const { store } = openCore(config, log);
  try {
    const keys = loadNodeKeys({ dataDir: config.dataDir, log: capabilityLogger(log, "identity") });
    const chainStore = chain.createSqliteChainStore({ store });
    const chainLog = chain.createChainLog({ store: chainStore, keys, clock: systemClock });
    const out = (text: string) => process.stdout.write(text);

    if (sub === "append") {
      const type = flags.type ?? "knowledge";
      const text = flags.text;
      if (text === undefined) throw kianaError("CLI_USAGE", `--text is required\n\n${CHAIN_USAGE}`);
      const { block } = chainLog.append(type, new TextEncoder().encode(text));
      out(
        json
          ? `${JSON.stringify({ author: block.author, seq: block.seq, type: block.type })}\n`
          : `appended ${block.type} #${block.seq}\n`,
      );
      return 0;
    }

    if (sub === "show") {
      const since = flags.since === undefined ? 0 : Date.parse(flags.since);
      if (Number.isNaN(since))
        throw kianaError("CLI_USAGE", `--since ${flags.since} is not a date (use e.g. 2026-11-01)`);
      const limit = Math.min(Math.max(Number(flags.limit ?? 100), 1), 10_000);
      let shown = 0;
      const print = (b: {
        author: string;
        seq: number;
        ts: number;
        type: string;
        text?: string;
        bytes: number;
      }) => {
        shown++;
        const row = {
          author: b.author,
          seq: b.seq,
          ts: new Date(b.ts).toISOString(),
          type: b.type,
          text: b.text,
        };
        const shownText = b.text ?? `(${b.bytes} bytes, not UTF-8 text)`;
        out(
          json
            ? `${JSON.stringify(row)}\n`
            : `${row.ts}  ${b.author.slice(0, 8)} #${b.seq}  ${b.type}  ${shownText}\n`,
        );
      };
      if (flags.grep !== undefined) {
        // Full-text search over knowledge blocks (chain_fts), newest first, a bounded page at a time.
        const { createChainQueries, MAX_LIST_LIMIT } = await import("../chain/queries.ts");
        const queries = createChainQueries({ db: store.db });
        let before: { ts: number; author: string; seq: number } | undefined;
        while (shown < limit) {
          const want = Math.min(limit - shown, MAX_LIST_LIMIT);
          const page = queries.list({
            text: flags.grep,
            author: flags.author,
            type: flags.type,
            since,
            limit: want,
            before,
          });
          page.forEach(print);
          before = page.at(-1);
          if (page.length < want) break;
        }
      } else {
        const authors = flags.author ? [flags.author] : chainStore.authors();
        // Streams each log: nothing holds a whole chain in memory.
        for (const author of authors) {
          for (const { block } of chainStore.blocks(author, 0, chainStore.length(author))) {
            if (shown >= limit) break;
            if (flags.type && block.type !== flags.type) continue;
            if (block.ts < since) continue;
            print({ ...block, text: utf8.decode(block.body), bytes: block.body.length });
          }
        }
      }
      if (!json && shown === 0) out("no blocks match\n");
      return 0;
    }

    if (sub === "verify") {
      let bad = 0;
      // Keys of other authors were learned from their verified enrolment certificates during sync.
      const { createSqliteAuthorKeys } = await import("../chain/sync/sqlite-ports.ts");
      const known = createSqliteAuthorKeys({ store, now: Date.now });
      for (const author of chainStore.authors()) {
        const pub = author === keys.fingerprint ? keys.signingPublicKey : known.get(author)?.signingKey;
        const verdict = chainLog.verifyLog(author, pub);
        if (verdict.ok) {
          out(`${author}: ${verdict.length} blocks ok (signed up to ${verdict.signedLength})\n`);
        } else {
          bad++;
          const where = verdict.seq === undefined ? "its signed root" : `block #${verdict.seq}`;
          out(`${author}: BAD at ${where}: ${verdict.reason}\n`);
        }
      }
      if (chainStore.authors().length === 0) out("the chain is empty\n");
      return bad === 0 ? 0 : 1;
    }

    throw kianaError(
      "CLI_USAGE",
      `${sub ? `unknown chain command ${sub}` : "chain needs a command"}\n\n${CHAIN_USAGE}`,
    );
  } finally {
    store.close();
  }
}
