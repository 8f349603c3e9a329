// A named pipe the recogniser reads its audio from. Bun gives a child socketpairs, not pipes, for
// stdin, and pocketsphinx cannot open a socket as "/dev/stdin"; a FIFO streams the same way.
import { close, constants, open, write } from "node:fs";

export interface FifoWriter {
  /** Queues bytes; they go out once the reader has opened the FIFO. */
  write(bytes: Uint8Array): void;
  /** Waits for queued bytes, then closes: the reader sees end of input. */
  end(): Promise<void>;
  /** Stops waiting for a reader that will never come (the child died or was killed). */
  release(): void;
  /** The first error (EPIPE once the reader is gone, or released before it opened), if any. */
  readonly error: unknown;
}

/** Creates the FIFO with the coreutils tool: neither Node nor Bun has mkfifo. */
export async function makeFifo(path: string): Promise<void> {
  const proc = Bun.spawn(["mkfifo", "-m", "600", path], {
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  const code = await proc.exited;
  if (code !== 0)
    throw new Error(`mkfifo ${path} failed: ${(await new Response(proc.stderr).text()).trim()}`);
}

const POLL_MS = 3;
const errno = (err: unknown) => (err as { code?: string } | null)?.code;

function writeAll(fd: number, bytes: Uint8Array, stop: () => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (at: number) => {
      if (at >= bytes.length) return resolve();
      write(fd, bytes, at, bytes.length - at, null, (err, n) => {
        // A full pipe: the reader is busy, try again shortly (the fd is non-blocking).
        if (errno(err) === "EAGAIN" && !stop()) setTimeout(() => step(at), POLL_MS);
        else if (err) reject(err);
        else step(at + n);
      });
    };
    step(0);
  });
}

/**
 * Opens the FIFO for writing, non-blocking and polled: a blocking open would wait for the reader in
 * a pool thread that nothing can free if the child dies first. Success means the child has opened
 * its end, which is also the moment it has loaded its model.
 */
export function openFifoWriter(path: string, created: Promise<void>): FifoWriter {
  let released = false;
  let error: unknown = null;
  const fd = created.then(
    () =>
      new Promise<number>((resolve, reject) => {
        const attempt = () =>
          open(path, constants.O_WRONLY | constants.O_NONBLOCK, (err, n) => {
            if (!err) return resolve(n);
            // ENXIO: no reader yet.
            if (errno(err) === "ENXIO" && !released) setTimeout(attempt, POLL_MS);
            else reject(released ? new Error("the reader went away before opening the FIFO") : err);
          });
        attempt();
      }),
  );
  fd.catch((err: unknown) => {
    error ??= err;
  });
  let chain: Promise<void> = Promise.resolve();
  return {
    write(bytes) {
      chain = chain.then(async () => {
        if (error) return;
        try {
          await writeAll(await fd, bytes, () => released);
        } catch (err) {
          error ??= err;
        }
      });
    },
    async end() {
      await chain;
      const n = await fd.catch(() => null);
      if (n !== null) await new Promise<void>((resolve) => close(n, () => resolve()));
    },
    release() {
      released = true;
    },
    get error() {
      return error;
    },
  };
}
