// `kiana model import|list|remove|verify`: the models on this device, beside a running node (SQLite
// WAL lets both use the database). Files live in <data>/models, named by their hash.
import { basename, join } from "node:path";
import type { KianaConfig } from "../config/index.ts";
import { kianaError } from "../errors.ts";
import type { Logger } from "../platform/log.ts";
import type { Store } from "../store/index.ts";
import { openCore } from "./core.ts";

export const MODEL_USAGE = `kiana model import <file> [--name N] [--sha256 HEX]  copy a GGUF or ONNX model in, hashed and checked
kiana model list [--json]                             the models on this device
kiana model remove <id|name>                          forget a model and delete its file
kiana model verify [<id|name>] [--json]               re-hash model files; exit 1 naming any that changed`;

/** Where output goes and how the store is opened; tests pass their own. */
export interface ModelCliIo {
  out?(text: string): void;
  err?(text: string): void;
  /** Whether stderr is a terminal: the progress line then rewrites itself. */
  errIsTty?: boolean;
  openStore?(): Store;
  now?(): number;
}

/** Below this a copy takes a moment and a progress line would only flicker. */
const PROGRESS_MIN_BYTES = 256 << 20;
const MiB = 1 << 20;

export function formatCount(n: number | null): string {
  if (n === null) return "-";
  for (const [unit, size] of [
    ["T", 1e12],
    ["B", 1e9],
    ["M", 1e6],
    ["K", 1e3],
  ] as const) {
    if (n >= size) return `${(n / size).toFixed(n / size < 100 ? 1 : 0).replace(/\.0$/, "")}${unit}`;
  }
  return String(n);
}

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length))) ?? [];
  return rows
    .map((r) => `${r.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join("  ")}`.trimEnd())
    .join("\n");
}

export async function runModelCommand(
  sub: string | undefined,
  args: readonly string[],
  flags: Record<string, string>,
  json: boolean,
  config: Readonly<KianaConfig>,
  log: Logger,
  io: ModelCliIo = {},
): Promise<number> {
  const usage = (why: string) => kianaError("CLI_USAGE", `${why}\n\n${MODEL_USAGE}`);
  if (!["import", "list", "remove", "verify"].includes(sub ?? "")) {
    throw usage(sub ? `unknown model command ${sub}` : "model needs a command");
  }
  const maxArgs = sub === "list" ? 0 : 1;
  if (args.length > maxArgs) throw usage(`unexpected argument ${args[maxArgs]}`);
  if ((sub === "import" || sub === "remove") && args.length === 0)
    throw usage(`model ${sub} needs an argument`);

  const out = io.out ?? ((t: string) => process.stdout.write(t));
  const err = io.err ?? ((t: string) => process.stderr.write(t));
  const now = io.now ?? Date.now;
  const { createModelRegistry } = await import("../models/registry.ts");
  const store = io.openStore ? io.openStore() : openCore(config, log).store;
  try {
    const registry = createModelRegistry({ store, modelsDir: join(config.dataDir, "models"), now });
    const describe = (e: {
      kind: string;
      architecture: string | null;
      parameters: number | null;
      quantization: string | null;
      contextLength: number | null;
      bytes: number;
    }) =>
      [
        e.architecture ?? e.kind,
        e.parameters === null ? null : `${formatCount(e.parameters)} parameters`,
        e.quantization,
        e.contextLength === null ? null : `context ${e.contextLength}`,
        formatBytes(e.bytes),
      ]
        .filter((part) => part !== null)
        .join(", ");

    if (sub === "import") {
      const file = args[0] as string;
      const started = now();
      let shownTenth = -1;
      let lineOpen = false;
      const tty = io.errIsTty ?? process.stderr.isTTY === true;
      const onProgress = (done: number, total: number | null) => {
        if (!total || total < PROGRESS_MIN_BYTES) return;
        const pct = Math.floor((done / total) * 100);
        // A log file gets a line per tenth; a terminal gets one line rewritten in place.
        if (!tty && Math.floor(pct / 10) === shownTenth) return;
        shownTenth = Math.floor(pct / 10);
        const rate = done / MiB / Math.max((now() - started) / 1000, 0.001);
        const line = `importing ${basename(file)}: ${pct}% of ${formatBytes(total)}, ${rate.toFixed(1)} MiB/s`;
        lineOpen = tty && done < total;
        err(tty ? `\r${line}${lineOpen ? "" : "\n"}` : `${line}\n`);
      };
      const { entry, duplicate } = await registry
        .importFile(file, { name: flags.name, expectSha256: flags.sha256, onProgress })
        .finally(() => {
          // A refusal after a partial progress line starts on a line of its own.
          if (lineOpen) err("\n");
        });
      if (json) out(`${JSON.stringify({ ...entry, duplicate })}\n`);
      else if (duplicate) out(`already registered as ${entry.name} (${entry.id}); nothing was copied\n`);
      else out(`imported ${entry.name} (${entry.id}): ${describe(entry)}\n`);
      return 0;
    }

    if (sub === "list") {
      const entries = registry.list();
      if (json) out(`${JSON.stringify(entries)}\n`);
      else if (entries.length === 0) out("no models yet; add one with: kiana model import <file>\n");
      else {
        const head = ["ID", "NAME", "KIND", "ARCH", "PARAMS", "QUANT", "CTX", "SIZE"];
        const rows = entries.map((e) => [
          ...[e.id, e.name, e.kind, e.architecture ?? "-", formatCount(e.parameters)],
          ...[
            e.quantization ?? "-",
            e.contextLength === null ? "-" : String(e.contextLength),
            formatBytes(e.bytes),
          ],
        ]);
        out(`${table([head, ...rows])}\n`);
      }
      return 0;
    }

    if (sub === "remove") {
      const entry = await registry.remove(args[0] as string);
      if (json) out(`${JSON.stringify({ removed: entry })}\n`);
      else out(`removed ${entry.name} (${entry.id}); ${formatBytes(entry.bytes)} freed\n`);
      return 0;
    }

    const report = await registry.verify(args[0], {
      onResult: (r) => {
        if (json) return;
        const who = `${r.entry.name} (${r.entry.id})`;
        out(r.status === "ok" ? `ok   ${who}\n` : `BAD  ${who}: ${r.status}: ${r.detail}\n`);
      },
    });
    const bad = report.results.filter((r) => r.status !== "ok");
    if (json) {
      const results = report.results.map(({ entry, status, detail }) => ({
        id: entry.id,
        name: entry.name,
        status,
        detail,
      }));
      out(`${JSON.stringify({ results, unregistered: report.unregistered })}\n`);
    } else {
      for (const f of report.unregistered) {
        out(
          `note: ${join(registry.modelsDir, f)} belongs to no model (an interrupted import?); delete it or import it again\n`,
        );
      }
      if (report.results.length === 0) out("no models to verify\n");
      else if (bad.length > 0)
        out(
          `${bad.length} of ${report.results.length} models are bad: ${bad.map((r) => r.entry.name).join(", ")}\n`,
        );
      else out(`all ${report.results.length} models ok\n`);
    }
    return bad.length === 0 ? 0 : 1;
  } finally {
    store.close();
  }
}
