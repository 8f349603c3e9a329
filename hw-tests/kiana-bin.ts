// Finds the kiana binary on a board and runs it as its service user, so that a check run as root
// never leaves root-owned files in /var/lib/kiana.
import { existsSync } from "node:fs";
import { run } from "./result.ts";

export function kianaCommand(args: string[], env = process.env): string[] | null {
  const bin =
    env.KIANA_BIN ??
    (existsSync("/opt/kiana/current/kiana")
      ? "/opt/kiana/current/kiana"
      : run(["sh", "-c", "command -v kiana"]).out.trim() || null);
  if (!bin) return null;
  const asService = process.getuid?.() === 0 && run(["id", "-u", "kiana"]).code === 0;
  const data = env.KIANA_DATA ?? "/var/lib/kiana";
  return asService
    ? ["runuser", "-u", "kiana", "--", "env", `KIANA_DATA=${data}`, bin, ...args]
    : [bin, ...args];
}
