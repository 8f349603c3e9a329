// The slice of a child process the speech adapters use (pocketsphinx, espeak-ng), so tests can put
// another program in its place (one that crashes, hangs or is missing) without faking pipes.
import { existsSync } from "node:fs";
import { kianaError } from "../../errors.ts";

export interface ChildStdin {
  write(data: Uint8Array | string): unknown;
  flush(): unknown;
  end(): unknown;
}

export interface SpeechChild {
  readonly pid: number;
  /** Absent when the child was started with `stdin: "ignore"`. */
  readonly stdin?: ChildStdin | undefined;
  readonly stdout: ReadableStream<Uint8Array>;
  readonly stderr: ReadableStream<Uint8Array>;
  readonly exited: Promise<number>;
  readonly exitCode: number | null;
  readonly signalCode: string | null;
  kill(signal?: number | NodeJS.Signals): void;
}

/** Starts `argv` with stdout and stderr piped. Throws when the program cannot be started at all. */
export type SpawnFn = (argv: readonly string[], opts: { stdin: "pipe" | "ignore" }) => SpeechChild;

export const bunSpawn: SpawnFn = (argv, opts) =>
  Bun.spawn([...argv], { stdin: opts.stdin, stdout: "pipe", stderr: "pipe" }) as SpeechChild;

/**
 * The binary's full path, or ENGINE_MISSING naming the Debian package. Checked up front because
 * Bun's own spawn failure ("ENOENT: posix_spawn") does not say what to install.
 */
export function resolveBinary(binary: string, debPackage: string): string {
  const found = binary.includes("/") ? (existsSync(binary) ? binary : null) : Bun.which(binary);
  if (!found) {
    throw kianaError("ENGINE_MISSING", `${binary} not found; install the Debian package ${debPackage}`, {
      binary,
      package: debPackage,
    });
  }
  return found;
}

/**
 * Reads a child's stderr to the end, keeping the last `maxLines` lines that match `keep` (all by
 * default): pocketsphinx logs kilobytes of INFO lines and only its ERROR lines explain a failure.
 */
export async function stderrTail(
  stream: ReadableStream<Uint8Array>,
  keep: (line: string) => boolean = () => true,
  maxLines = 8,
): Promise<string[]> {
  const tail: string[] = [];
  const decoder = new TextDecoder();
  let buf = "";
  const take = (line: string) => {
    const t = line.trim();
    if (!t || !keep(t)) return;
    tail.push(t.length > 300 ? `${t.slice(0, 300)}…` : t);
    if (tail.length > maxLines) tail.shift();
  };
  try {
    for await (const chunk of stream) {
      buf += decoder.decode(chunk, { stream: true });
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        take(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
      // A line without a newline cannot grow without bound.
      if (buf.length > 4096) buf = buf.slice(-4096);
    }
  } catch {
    // A killed child can error its pipe; what was read so far is the answer.
  }
  take(buf);
  return tail;
}

/** Kills a child that is still running; harmless after it exited. */
export function killChild(child: SpeechChild): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    child.kill("SIGKILL");
  } catch {
    // It exited between the check and the kill.
  }
}
