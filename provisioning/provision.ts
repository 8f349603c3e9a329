// `fleet provision`: every inventory row becomes a device identity, an enrolment certificate and a
// seed on the boot partition of an image copy (--out) or a card (--device). Everything that can be
// checked is checked before the first byte is written.
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { loadFleetAuthority } from "../src/identity/index.ts";
import { renderSeedFiles, validateSeed } from "../src/seed/index.ts";
import { createDeviceIdentity, recordIssued } from "./device-identity.ts";
import { provisionError } from "./errors.ts";
import { writeFatFiles } from "./fat-files.ts";
import { checkTarget, type Progress, writeImage } from "./image-writer.ts";
import { readInventory } from "./inventory.ts";
import { findBootPartition } from "./partition-table.ts";
import { draftSeeds, withIdentity } from "./seed-draft.ts";

export interface ProvisionOptions {
  inventory: string;
  image: string;
  /** The fleet authority's folder (`fleet init --dir`). */
  fleetDir: string;
  target: { out: string } | { device: string; name?: string };
  now?: () => number;
  /** Monotonic ms, for the seconds column. */
  clock?: () => number;
  /** One device's state, e.g. "writing image 40%"; `done` marks its last line. */
  progress?(device: string, text: string, done: boolean): void;
}

export interface ProvisionedDevice {
  name: string;
  role: string;
  fingerprint: string;
  output: string;
  seconds: number;
}

/** The rows to provision: all for --out; exactly one card for --device (by --name, or the only row). */
function selectRows<T extends { name: string }>(rows: T[], target: ProvisionOptions["target"]): T[] {
  if ("out" in target) return rows;
  if (target.name === undefined) {
    if (rows.length === 1) return rows;
    throw provisionError(
      "PROVISION_USAGE",
      `the inventory lists ${rows.length} devices and --device writes one card: add --name (one of ${rows.map((r) => r.name).join(", ")})`,
    );
  }
  const row = rows.find((r) => r.name === target.name);
  if (!row) throw provisionError("PROVISION_USAGE", `--name ${target.name} is not in the inventory`);
  return [row];
}

export async function provision(opts: ProvisionOptions): Promise<ProvisionedDevice[]> {
  const now = opts.now ?? Date.now;
  const clock = opts.clock ?? (() => performance.now());
  const progress = opts.progress ?? (() => {});
  const rows = selectRows(readInventory(opts.inventory), opts.target);
  const authority = loadFleetAuthority(resolve(opts.fleetDir));
  const boot = findBootPartition(opts.image);
  const imageBytes = statSync(opts.image).size;
  const drafts = await draftSeeds(rows, {
    fleetId: authority.fleetId,
    label: basename(opts.inventory),
    now: now(),
  });

  const outputs = drafts.map((d) =>
    "out" in opts.target ? join(resolve(opts.target.out), `${d.device.name}.img`) : opts.target.device,
  );
  if ("out" in opts.target) {
    // Never replace an earlier card image: it holds another identity for the same name.
    const taken = outputs.filter((o) => existsSync(o));
    if (taken.length > 0)
      throw provisionError(
        "PROVISION_DEVICE_REFUSED",
        `already there, move them away first: ${taken.join(", ")}`,
      );
    mkdirSync(resolve(opts.target.out), { recursive: true });
  } else checkTarget(opts.target.device, imageBytes);

  const results: ProvisionedDevice[] = [];
  for (const [i, draft] of drafts.entries()) {
    const { name, role } = draft.device;
    const output = outputs[i] as string;
    const tag = `[${i + 1}/${drafts.length}] ${name}`;
    const started = clock();
    progress(tag, "creating keys and certificate", false);
    const identity = createDeviceIdentity(authority, draft.device, now());
    const files = renderSeedFiles(validateSeed(withIdentity(draft, identity)));
    if ("out" in opts.target) {
      // A half-written copy never carries the final name, so a crash leaves no usable-looking image.
      const part = `${output}.part`;
      try {
        progress(tag, "copying image", false);
        copyFileSync(opts.image, part);
        progress(tag, "writing seed", false);
        writeFatFiles(part, boot.offset, files);
        renameSync(part, output);
      } catch (err) {
        rmSync(part, { force: true });
        throw err;
      }
    } else {
      const onWrite: Progress = (written, total) =>
        progress(tag, `writing image ${Math.floor((written / Math.max(total, 1)) * 100)}%`, false);
      writeImage(opts.image, output, onWrite);
      progress(tag, "writing seed", false);
      // Read back from the card: what is written there is what the device will boot.
      writeFatFiles(output, findBootPartition(output).offset, files);
    }
    recordIssued(resolve(opts.fleetDir), {
      at: now(),
      name,
      role,
      serial: identity.certificate.serial,
      fingerprint: identity.fingerprint,
      output,
    });
    const seconds = (clock() - started) / 1000;
    progress(tag, `done in ${seconds.toFixed(2)} s`, true);
    results.push({ name, role, fingerprint: identity.fingerprint, output, seconds });
  }
  return results;
}

/** The summary table printed at the end: name, role, fingerprint, output, seconds. */
export function formatSummary(rows: readonly ProvisionedDevice[]): string {
  return formatTable([
    ["name", "role", "fingerprint", "output", "seconds"],
    ...rows.map((r) => [r.name, r.role, r.fingerprint, r.output, r.seconds.toFixed(2)]),
  ]);
}

/** Left-aligned columns two spaces apart, the first row as the header. */
export function formatTable(rows: readonly string[][]): string {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length))) ?? [];
  return `${rows
    .map((r) =>
      r
        .map((cell, c) => cell.padEnd(widths[c] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n")}\n`;
}
