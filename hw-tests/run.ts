// hw-tests/run: the checks that need a real board, one after another, each printing PASS/FAIL and its
// numbers. Exit 0 only when every selected check passed; on a machine that is not a kiana board
// each check fails and says what is missing.
// Usage: hw-tests/run [--only audio,accelerator,llm,sd-card,thermal] [--model FILE.gguf]
//        [--model-name NAME] [--url http://127.0.0.1:8080] [--data DIR] [--thermal-seconds N]
import { parseArgs } from "node:util";
import { acceleratorCheck } from "./accelerator.ts";
import { audioCheck } from "./audio.ts";
import { llmCheck } from "./llm.ts";
import { type CheckResult, formatResult } from "./result.ts";
import { sdCheck } from "./sdcard.ts";
import { thermalCheck } from "./thermal.ts";

export const CHECKS = ["audio", "accelerator", "llm", "sd-card", "thermal"] as const;
type Check = (typeof CHECKS)[number];

export async function runChecks(
  argv: string[],
  print: (line: string) => void = console.log,
): Promise<CheckResult[]> {
  const { values } = parseArgs({
    args: argv,
    options: {
      only: { type: "string" },
      model: { type: "string" },
      "model-name": { type: "string" },
      url: { type: "string" },
      data: { type: "string", default: "/var/lib/kiana" },
      "thermal-seconds": { type: "string", default: "60" },
    },
  });
  const selected = (values.only?.split(",") ?? [...CHECKS]) as Check[];
  const unknown = selected.filter((c) => !CHECKS.includes(c));
  if (unknown.length > 0)
    throw new Error(`unknown check ${unknown.join(", ")} (choose from ${CHECKS.join(", ")})`);
  const results: CheckResult[] = [];
  for (const c of selected) {
    const r =
      c === "audio"
        ? await audioCheck()
        : c === "accelerator"
          ? acceleratorCheck()
          : c === "llm"
            ? await llmCheck({ model: values.model, name: values["model-name"], url: values.url })
            : c === "sd-card"
              ? sdCheck(values.data)
              : await thermalCheck(Number(values["thermal-seconds"]));
    results.push(r);
    print(formatResult(r));
  }
  const failed = results.filter((r) => !r.ok).length;
  print(`${results.length - failed} passed, ${failed} failed`);
  return results;
}

if (import.meta.main) {
  try {
    const results = await runChecks(process.argv.slice(2));
    process.exit(results.every((r) => r.ok) ? 0 : 1);
  } catch (err) {
    console.error(`hw-tests/run: ${(err as Error).message}`);
    process.exit(64);
  }
}
