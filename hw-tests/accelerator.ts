// Accelerator detection: what this board should have (its device-tree model, Jetson release file and
// device nodes) against what `kiana doctor --json` reports in its hardware profile.
import { readdirSync, readFileSync } from "node:fs";
import { kianaCommand } from "./kiana-bin.ts";
import { type CheckResult, fail, pass, run } from "./result.ts";

export interface BoardFacts {
  /** /proc/device-tree/model without its trailing NUL, or null. */
  model: string | null;
  jetsonRelease: boolean;
  /** Names in /dev. */
  dev: string[];
}

export interface Accelerators {
  cuda: boolean;
  npus: string[];
}

/** What the hardware itself says should be detected. */
export function expectedAccelerators(f: BoardFacts): Accelerators {
  const jetson = f.jetsonRelease || /jetson|nvidia/i.test(f.model ?? "");
  const npus = [
    ...f.dev.filter((d) => /^hailo\d+$/.test(d)).map(() => "hailo"),
    ...f.dev.filter((d) => d === "rknpu").map(() => "rknpu"),
  ];
  return { cuda: jetson || f.dev.some((d) => /^nvidia\d+$/.test(d)), npus: npus.sort() };
}

interface DoctorProfile {
  profile: {
    board: { model: string | null };
    accelerators: { cuda: unknown | null; npus: { kind: string }[] };
  };
}

/** Differences between the expected and the reported accelerators; empty when they agree. */
export function compareAccelerators(want: Accelerators, doctor: DoctorProfile): string[] {
  const got: Accelerators = {
    cuda: doctor.profile.accelerators.cuda !== null,
    npus: doctor.profile.accelerators.npus.map((n) => n.kind).sort(),
  };
  const diff: string[] = [];
  if (want.cuda !== got.cuda)
    diff.push(
      `CUDA expected ${want.cuda ? "present" : "absent"}, kiana reports ${got.cuda ? "present" : "absent"}`,
    );
  if (want.npus.join(",") !== got.npus.join(","))
    diff.push(`NPUs expected [${want.npus.join(", ")}], kiana reports [${got.npus.join(", ")}]`);
  return diff;
}

export const hostBoard = (): BoardFacts => {
  const read = (p: string) => {
    try {
      return readFileSync(p, "utf8");
    } catch {
      return null;
    }
  };
  let dev: string[] = [];
  try {
    dev = readdirSync("/dev");
  } catch {}
  return {
    model: read("/proc/device-tree/model")?.replace(/\0+$/, "") ?? null,
    jetsonRelease: read("/etc/nv_tegra_release") !== null,
    dev,
  };
};

export function acceleratorCheck(facts: BoardFacts = hostBoard()): CheckResult {
  if (facts.model === null) return fail("accelerator", "not a board: /proc/device-tree/model is missing");
  const cmd = kianaCommand(["doctor", "--json"]);
  if (!cmd) return fail("accelerator", "kiana not found (/opt/kiana/current/kiana, PATH or $KIANA_BIN)");
  const res = run(cmd);
  let doctor: DoctorProfile;
  try {
    doctor = JSON.parse(res.out) as DoctorProfile;
  } catch {
    return fail(
      "accelerator",
      `kiana doctor --json gave no report (exit ${res.code}): ${res.err.trim().slice(0, 200)}`,
    );
  }
  const want = expectedAccelerators(facts);
  const diff = compareAccelerators(want, doctor);
  if (doctor.profile.board.model !== facts.model)
    diff.push(`board model "${facts.model}", kiana reports "${doctor.profile.board.model}"`);
  const numbers = { model: facts.model, cuda: String(want.cuda), npus: want.npus.join("+") || "none" };
  return diff.length === 0
    ? pass("accelerator", "kiana's hardware profile matches the board", numbers)
    : fail("accelerator", diff.join("; "), numbers);
}
