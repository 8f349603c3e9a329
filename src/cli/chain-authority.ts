// `kiana chain status|checkpoint|vote`: this device's view of the validators and checkpoints, and
// its own votes and checkpoint signatures, written as blocks in its log (peers get them by sync).
import type { KianaConfig } from "../config/index.ts";
import { kianaError } from "../errors.ts";
import { capabilityLogger, type Logger } from "../platform/log.ts";
import { openCore } from "./core.ts";

const VOTE_KINDS = ["add-validator", "remove-validator", "confirm", "dispute"] as const;
const FP = /^[0-9a-f]{32}$/;

export async function runChainAuthority(
  sub: "status" | "checkpoint" | "vote",
  words: readonly string[],
  flags: Record<string, string>,
  json: boolean,
  config: Readonly<KianaConfig>,
  log: Logger,
): Promise<number> {
  const [{ loadNodeKeys }, { openChainNode, safeMembership }, { systemClock }] = await Promise.all([
    import("../identity/index.ts"),
    import("./chain-node.ts"),
    import("../platform/clock.ts"),
  ]);
  const { store } = openCore(config, log);
  const out = (text: string) => process.stdout.write(text);
  try {
    const keys = loadNodeKeys({ dataDir: config.dataDir, log: capabilityLogger(log, "identity") });
    const { authority, authorsView } = await openChainNode({
      store,
      keys,
      membership: safeMembership(config.dataDir),
      revoked: config.mesh.revoked,
      clock: systemClock,
      genesisValidators: config.chain.validators,
    }).then((n) => ({ authority: n.authority, authorsView: () => n.view().authors() }));

    if (sub === "status") {
      const st = authority.status();
      if (json) {
        out(`${JSON.stringify({ ...st, authors: authorsView() })}\n`);
        return 0;
      }
      out(`validators (${st.validators.length}, a checkpoint is final with ${st.majority}):\n`);
      for (const v of st.validators)
        out(`  ${v.fingerprint}${v.self ? "  (this device)" : ""}  since height ${v.sinceHeight}\n`);
      const cp = (c: typeof st.latest) =>
        c
          ? `height ${c.height} by ${c.proposer.slice(0, 8)}, ${c.signers} of ${st.majority} signatures, ${c.heads} logs, ${new Date(c.ts).toISOString()}`
          : "none";
      out(
        `last final checkpoint: ${cp(st.lastFinal)}\nnewest proposal: ${cp(st.latest)}${st.latest?.final ? " (final)" : ""}\npending: ${st.pending}\n`,
      );
      out("authors:\n");
      for (const a of authorsView())
        out(`  ${a.author}  ${a.length} blocks (signed ${a.signedLength})  trust ${a.trust.toFixed(2)}\n`);
      return 0;
    }

    if (sub === "checkpoint") {
      const r = authority.proposeCheckpoint();
      const e = authority.endorsePending();
      const text = `${r.created ? "proposed" : "already proposed"} checkpoint ${r.id.slice(0, 16)} at height ${r.height}`;
      out(json ? `${JSON.stringify({ ...r, endorse: e })}\n` : `${text}\n`);
      return 0;
    }

    const kind = words[0] as (typeof VOTE_KINDS)[number];
    if (!VOTE_KINDS.includes(kind))
      throw kianaError("CLI_USAGE", `kiana chain vote needs one of ${VOTE_KINDS.join(", ")}`);
    let block: ReturnType<typeof authority.vote>;
    if (kind === "add-validator" || kind === "remove-validator") {
      const validator = flags.validator ?? "";
      if (!FP.test(validator))
        throw kianaError("CLI_USAGE", `--validator must be a 32-hex-digit fingerprint, got "${validator}"`);
      block = authority.vote(kind, validator);
    } else {
      const author = flags.author ?? "";
      const seq = Number(flags.seq);
      if (!FP.test(author))
        throw kianaError("CLI_USAGE", `--author must be a 32-hex-digit fingerprint, got "${author}"`);
      if (!Number.isSafeInteger(seq) || seq < 0)
        throw kianaError("CLI_USAGE", `--seq must be a block number, got "${flags.seq}"`);
      block = authority.vote(kind, author, seq);
    }
    out(
      json
        ? `${JSON.stringify({ seq: block.block.seq, kind })}\n`
        : `voted ${kind} (block #${block.block.seq} of this device's log)\n`,
    );
    return 0;
  } finally {
    store.close();
  }
}
