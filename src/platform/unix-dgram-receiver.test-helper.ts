// Test-only: a real AF_UNIX datagram socket bound to a path, read without blocking, so the
// notifier is checked against the kernel rather than a mock.
import { dlopen, FFIType, read } from "bun:ffi";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0x80000;
const MSG_DONTWAIT = 0x40;
const EAGAIN = 11;

export interface UnixDgramReceiver {
  /** What to put in NOTIFY_SOCKET: a file path, or "@name" for the abstract namespace. */
  path: string;
  /** Every datagram received so far (not just the new ones), oldest first; never blocks. */
  drain(): string[];
  /** Polls until `count` datagrams arrived in total or `timeoutMs` passed; returns them all. */
  waitFor(count: number, timeoutMs: number): Promise<string[]>;
  close(): void;
}

// Built here on purpose, not borrowed from sd-notify.ts: if both sides shared one mistake in the
// address length, the tests would still pass while systemd's real socket stayed unreachable.
function sockaddrUn(path: string): { addr: Buffer; len: number } {
  const addr = Buffer.alloc(110);
  addr.writeUInt16LE(AF_UNIX, 0);
  if (path.startsWith("@")) {
    const n = addr.write(path.slice(1), 3, "utf8");
    return { addr, len: 3 + n };
  }
  const n = addr.write(path, 2, "utf8");
  return { addr, len: 2 + n + 1 };
}

function openLibc() {
  return dlopen("libc.so.6", {
    socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    bind: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
    recv: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i64 },
    close: { args: [FFIType.i32], returns: FFIType.i32 },
    __errno_location: { args: [], returns: FFIType.ptr },
  });
}

/** Binds a receiver at `abstractName` ("@...") or, by default, at a fresh file in a temp dir. */
export function createUnixDgramReceiver(abstractName?: string): UnixDgramReceiver {
  const lib = openLibc();
  const { symbols } = lib;
  const errno = () => {
    const p = symbols.__errno_location();
    return p ? read.i32(p, 0) : 0;
  };
  const dir = abstractName ? undefined : mkdtempSync(join(tmpdir(), "kiana-notify-"));
  const path = abstractName ?? join(dir as string, "notify.sock");
  const fd = symbols.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new Error(`socket() failed, errno ${errno()}`);
  const { addr, len } = sockaddrUn(path);
  if (symbols.bind(fd, addr, len) !== 0) {
    const code = errno();
    symbols.close(fd);
    throw new Error(`bind(${path}) failed, errno ${code}`);
  }

  let closed = false;
  const received: string[] = [];
  const buf = Buffer.alloc(64 * 1024);
  const drain = () => {
    if (closed) return [...received];
    for (;;) {
      const n = Number(symbols.recv(fd, buf, buf.length, MSG_DONTWAIT));
      if (n < 0) {
        const code = errno();
        if (code === EAGAIN) break;
        throw new Error(`recv() failed, errno ${code}`);
      }
      received.push(buf.toString("utf8", 0, n));
    }
    return [...received];
  };

  return {
    path,
    drain,
    async waitFor(count, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (drain().length < count && Date.now() < deadline) await Bun.sleep(10);
      return [...received];
    },
    close() {
      // Idempotent: closing a number twice could close an fd someone else has since been given.
      if (closed) return;
      closed = true;
      symbols.close(fd);
      lib.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
