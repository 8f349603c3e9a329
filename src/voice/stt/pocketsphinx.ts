// Speech-to-text with CMU pocketsphinx over a JSGF grammar: the hub's offline recogniser for a fixed
// command set. One pocketsphinx_continuous process per utterance, started ahead and waiting on its input FIFO.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeError, kianaError } from "../../errors.ts";
import type { SpeechToText, SttSession, Transcript } from "../speech-ports.ts";
import { bunSpawn, killChild, resolveBinary, type SpawnFn, type SpeechChild, stderrTail } from "./child.ts";
import { type FifoWriter, makeFifo, openFifoWriter } from "./fifo.ts";
import { checkJsgfWords, grammarDictionary, type PronunciationDict, parsePronunciationDict } from "./jsgf.ts";

const MODEL_ROOT = "/usr/share/pocketsphinx/model/en-us";
const STDOUT_LIMIT = 64 * 1024;

export interface SttLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface PocketsphinxSttOptions {
  /** The grammar, or a function asked at each utterance (the intent set can change at run time). */
  jsgf: string | (() => string);
  /** Default "pocketsphinx_continuous" from PATH. */
  binary?: string;
  /** Acoustic model folder (holds mdef). Default Debian's en-us model. */
  modelDir?: string;
  /** Full CMU dictionary the grammar's words are looked up in. Default Debian's cmudict-en-us.dict. */
  dictPath?: string;
  spawn?: SpawnFn;
  log?: SttLog;
  /** Bound on end of audio → transcript before the process is killed. Default 5000 ms. */
  decodeTimeoutMs?: number;
  /**
   * Keep the next utterance's process started and blocked on stdin, so loading the model is off the
   * critical path. Default true.
   */
  prestart?: boolean;
  /** Decoder flags after the defaults, e.g. ["-beam", "1e-80"]; a later flag overrides an earlier one. */
  extraArgs?: readonly string[];
}

export interface PocketsphinxStt extends SpeechToText {
  /** Kills the waiting process and removes the grammar files. */
  dispose(): void;
}

interface Prepared {
  gramPath: string;
  dictPath: string;
}

interface Running {
  prepared: Prepared;
  writer: FifoWriter;
  /** The exit code; rejects when the process could not be started. */
  exited: Promise<number>;
  stdout: Promise<string>;
  stderr: Promise<string[]>;
  signal(): string | null;
  alive(): boolean;
  kill(): void;
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<string> {
  let text = "";
  const decoder = new TextDecoder();
  try {
    for await (const chunk of stream) {
      // A runaway process cannot fill memory; a hypothesis is one short line.
      if (text.length < STDOUT_LIMIT) text += decoder.decode(chunk, { stream: true });
    }
  } catch {
    // A killed process can error its pipe; nothing more was coming.
  }
  return text;
}

export function createPocketsphinxStt(opts: PocketsphinxSttOptions): PocketsphinxStt {
  const binary = resolveBinary(opts.binary ?? "pocketsphinx_continuous", "pocketsphinx");
  const modelDir = opts.modelDir ?? join(MODEL_ROOT, "en-us");
  const fullDictPath = opts.dictPath ?? join(MODEL_ROOT, "cmudict-en-us.dict");
  if (!existsSync(join(modelDir, "mdef"))) {
    throw kianaError("MODEL_NOT_FOUND", `no pocketsphinx acoustic model (mdef) in ${modelDir}`, {
      modelDir,
      package: "pocketsphinx-en-us",
    });
  }
  let dict: PronunciationDict;
  try {
    dict = parsePronunciationDict(readFileSync(fullDictPath, "utf8"));
  } catch (cause) {
    const msg = `pocketsphinx dictionary ${fullDictPath} is unreadable: ${describeError(cause)}`;
    throw kianaError("MODEL_NOT_FOUND", msg, { dictPath: fullDictPath }, cause);
  }
  const spawn = opts.spawn ?? bunSpawn;
  const timeoutMs = opts.decodeTimeoutMs ?? 5000;
  const prestart = opts.prestart ?? true;
  const workDir = mkdtempSync(join(tmpdir(), "kiana-stt-"));
  const prepared = new Map<string, Prepared>();
  let spare: Running | null = null;
  let seq = 0;
  let disposed = false;

  /** Checks the grammar and writes it with its own small dictionary; cached by grammar text. */
  function prepare(jsgf: string): Prepared {
    const cached = prepared.get(jsgf);
    if (cached) return cached;
    const check = checkJsgfWords(jsgf, dict);
    if (!check.ok)
      throw kianaError("CONFIG_INVALID", `pocketsphinx: ${check.reason}`, { missing: check.missing });
    const n = prepared.size;
    const files = { gramPath: join(workDir, `g${n}.gram`), dictPath: join(workDir, `g${n}.dict`) };
    writeFileSync(files.gramPath, jsgf);
    writeFileSync(files.dictPath, grammarDictionary(check.words, dict));
    prepared.set(jsgf, files);
    return files;
  }

  const grammarNow = () => prepare(typeof opts.jsgf === "function" ? opts.jsgf() : opts.jsgf);

  function launch(p: Prepared): Running {
    // Raw s16le through a FIFO: continuous.c reads a file not named *.wav as headerless samples, in
    // 2048-sample blocks as they come, so decoding keeps pace with the speech.
    const fifo = join(workDir, `u${seq++}.raw`);
    const argv = [binary, "-infile", fifo, "-jsgf", p.gramPath, "-dict", p.dictPath, "-hmm", modelDir];
    // Its VAD would cut the utterance at a pause and match each half against the grammar alone; the
    // caller's VAD already bounds the utterance, so the only end is end of input.
    argv.push("-vad_postspeech", "1000");
    // Default beams prune the right path on some short commands ("Final result does not match the
    // grammar" and no text); wider ones cost nothing noticeable on a grammar this small.
    argv.push("-beam", "1e-80", "-wbeam", "1e-60", "-pbeam", "1e-80", ...(opts.extraArgs ?? []));
    let child: SpeechChild | null = null;
    let killed = false;
    const created = makeFifo(fifo);
    const started = created.then(() => {
      if (killed) throw new Error("pocketsphinx was cancelled before it started");
      try {
        child = spawn(argv, { stdin: "ignore" });
        return child;
      } catch (cause) {
        const msg = `pocketsphinx could not be started (${binary}): ${describeError(cause)}`;
        throw kianaError("ENGINE_MISSING", msg, { binary }, cause);
      }
    });
    const writer = openFifoWriter(fifo, created);
    const exited = started.then((c) => c.exited);
    // Whatever happens to the child, a writer still waiting for it to open the FIFO is let go.
    void exited.then(writer.release, writer.release).finally(() => rmSync(fifo, { force: true }));
    return {
      prepared: p,
      writer,
      exited,
      stdout: started.then((c) => readAll(c.stdout)).catch(() => ""),
      stderr: started.then((c) => stderrTail(c.stderr, (l) => /ERROR|FATAL/.test(l))).catch(() => []),
      signal: () => child?.signalCode ?? null,
      alive: () => !killed && (child === null || (child.exitCode === null && child.signalCode === null)),
      kill() {
        killed = true;
        if (child) killChild(child);
        writer.release();
      },
    };
  }

  function refill(): void {
    if (!prestart || disposed || spare) return;
    try {
      spare = launch(grammarNow());
    } catch (err) {
      // The next start() meets the same problem and reports it to its caller.
      opts.log?.warn({ err: describeError(err) }, "pocketsphinx spare process not started");
    }
  }

  function take(p: Prepared): Running {
    const s = spare;
    spare = null;
    if (s && s.prepared === p && s.alive()) return s;
    s?.kill();
    return launch(p);
  }

  async function finish(run: Running, audioBytes: number): Promise<Transcript> {
    const t0 = performance.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    const ended = run.writer.end().then(() => run.exited);
    const code = await Promise.race([ended, expired]).finally(() => clearTimeout(timer));
    if (code === "timeout") {
      run.kill();
      throw kianaError("MODEL_ENGINE_FAILED", `pocketsphinx gave no transcript within ${timeoutMs} ms`, {
        engine: "pocketsphinx",
        timeoutMs,
      });
    }
    const out = await run.stdout;
    const decodeMs = performance.now() - t0;
    if (code !== 0) {
      const errors = await run.stderr;
      const why = errors.length > 0 ? errors.join("; ") : `signal ${run.signal() ?? "none"}`;
      throw kianaError("MODEL_ENGINE_FAILED", `pocketsphinx exited with code ${code}: ${why}`, {
        engine: "pocketsphinx",
        exitCode: code,
        stderr: errors,
      });
    }
    // The VAD may still split at a very long pause: each piece's hypothesis is its own line.
    const text = out
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean)
      .join(" ");
    opts.log?.info({ decodeMs: Math.round(decodeMs), audioMs: audioBytes / 32, text }, "pocketsphinx");
    return { text, decodeMs };
  }

  if (prestart) refill();

  return {
    name: "pocketsphinx",
    start(): SttSession {
      if (disposed) throw new Error("pocketsphinx recogniser was disposed");
      const run = take(grammarNow());
      let done = false;
      let bytes = 0;
      return {
        write(chunk) {
          if (done || chunk.length === 0) return;
          // Int16Array memory is little-endian on every board kiana runs on: s16le as it stands.
          const view = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
          // Copied: the caller may reuse its buffer before the queued write goes out.
          run.writer.write(view.slice());
          bytes += view.length;
        },
        finish() {
          if (done) return Promise.reject(new Error("utterance already finished or cancelled"));
          done = true;
          const result = finish(run, bytes);
          // The next process loads after this one is done, not competing with its last decode.
          void result.then(refill, refill);
          return result;
        },
        cancel() {
          if (done) return;
          done = true;
          run.kill();
          refill();
        },
      };
    },
    dispose() {
      disposed = true;
      spare?.kill();
      spare = null;
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}
