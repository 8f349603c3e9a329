// Tells systemd (Type=notify) that we are ready, what we are doing and that we are still alive,
// by sending `KEY=VALUE` datagrams to $NOTIFY_SOCKET.

import { dlopen, FFIType, read } from "bun:ffi";
import { constants as osConstants } from "node:os";

export interface SdNotifier {
  /** False when there is no notify socket: every call is then a cheap no-op returning false. */
  readonly enabled: boolean;
  /** Sends the fields as one datagram; true when the kernel accepted it. */
  notify(fields: Record<string, string>): boolean;
  ready(status?: string): boolean;
  status(text: string): boolean;
  watchdog(): boolean;
  stopping(): boolean;
  close(): void;
}

export interface SdNotifyOptions {
  /** Defaults to $NOTIFY_SOCKET. A leading "@" means the Linux abstract namespace. */
  socketPath?: string | undefined;
  log?: { warn(obj: object, msg: string): void };
}

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0x80000;
// Never block the event loop when systemd's queue is full, and never die of SIGPIPE.
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
/** sizeof(sockaddr_un.sun_path) on Linux. */
const SUN_PATH_MAX = 108;

const ERRNO_NAMES = new Map<number, string>();
// Aliases share a number (EAGAIN/EWOULDBLOCK); keep the first, more familiar name.
for (const [name, code] of Object.entries(osConstants.errno))
  if (!ERRNO_NAMES.has(code)) ERRNO_NAMES.set(code, name);

/** Builds the `KEY=VALUE\n` payload; newlines and NULs would let a value forge extra fields. */
export function formatNotifyMessage(fields: Record<string, string>): string {
  let out = "";
  for (const [rawKey, rawValue] of Object.entries(fields)) {
    const key = rawKey.replace(/[^A-Za-z0-9_]/g, "");
    if (!key) continue;
    out += `${key}=${rawValue.replace(/[\r\n\0]/g, " ")}\n`;
  }
  return out;
}

/**
 * sockaddr_un for a path. Abstract names ("@name") start with a NUL byte and are not
 * NUL-terminated, so their length counts exactly the name; file paths include the terminator.
 */
export function buildSockaddrUn(path: string): { addr: Buffer; len: number } {
  const abstract = path.startsWith("@");
  const name = Buffer.from(abstract ? path.slice(1) : path, "utf8");
  // Both forms spend one byte of sun_path beyond the name: the leading or the trailing NUL.
  if (name.length === 0 || name.length + 1 > SUN_PATH_MAX) {
    throw new RangeError(`unix socket path must be 1..${SUN_PATH_MAX - 1} bytes: ${path}`);
  }
  const addr = Buffer.alloc(2 + SUN_PATH_MAX);
  addr.writeUInt16LE(AF_UNIX, 0);
  name.copy(addr, abstract ? 3 : 2);
  return { addr, len: abstract ? 2 + 1 + name.length : 2 + name.length + 1 };
}

interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  sendto(fd: number, buf: Uint8Array, len: number, flags: number, addr: Uint8Array, addrLen: number): number;
  close(fd: number): number;
  errno(): number;
}

// dlopen happens on first send, so a machine without glibc still imports this module and runs.
function openLibc(): Libc {
  const { symbols } = dlopen("libc.so.6", {
    socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    sendto: {
      args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32, FFIType.ptr, FFIType.u32],
      returns: FFIType.i64,
    },
    close: { args: [FFIType.i32], returns: FFIType.i32 },
    __errno_location: { args: [], returns: FFIType.ptr },
  });
  return {
    socket: (domain, type, protocol) => symbols.socket(domain, type, protocol),
    sendto: (fd, buf, len, flags, addr, addrLen) =>
      Number(symbols.sendto(fd, buf, len, flags, addr, addrLen)),
    close: (fd) => symbols.close(fd),
    errno: () => {
      const p = symbols.__errno_location();
      return p ? read.i32(p, 0) : 0;
    },
  };
}

const disabled: SdNotifier = {
  enabled: false,
  notify: () => false,
  ready: () => false,
  status: () => false,
  watchdog: () => false,
  stopping: () => false,
  close() {},
};

export function createSdNotifier(opts: SdNotifyOptions = {}): SdNotifier {
  const socketPath = "socketPath" in opts ? opts.socketPath : process.env.NOTIFY_SOCKET;
  if (!socketPath) return disabled;
  const path: string = socketPath;
  const log = opts.log;

  let libc: Libc | undefined;
  // A missing libc or a bad path will not fix itself; remember it instead of retrying every ping.
  let setupError: string | undefined;
  let fd = -1;
  let closed = false;
  let target: { addr: Buffer; len: number } | undefined;
  // One warning per failure streak: a dead socket would otherwise log on every watchdog ping.
  let failing = false;

  function fail(err: string, detail: object = {}): false {
    if (!failing)
      log?.warn({ err, socketPath: path, ...detail }, "sd_notify failed; systemd will not see our state");
    failing = true;
    return false;
  }

  function send(message: string): boolean {
    if (closed || !message) return false;
    if (setupError !== undefined) return fail(setupError);
    try {
      libc ??= openLibc();
      target ??= buildSockaddrUn(path);
    } catch (e) {
      setupError = e instanceof Error ? e.message : String(e);
      return fail(setupError);
    }
    if (fd < 0) {
      fd = libc.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (fd < 0) return fail(errnoName(libc.errno()), { call: "socket" });
    }
    const payload = Buffer.from(message, "utf8");
    const sent = libc.sendto(
      fd,
      payload,
      payload.length,
      MSG_DONTWAIT | MSG_NOSIGNAL,
      target.addr,
      target.len,
    );
    if (sent < 0) return fail(errnoName(libc.errno()), { call: "sendto" });
    failing = false;
    return true;
  }

  const notify = (fields: Record<string, string>) => send(formatNotifyMessage(fields));
  return {
    enabled: true,
    notify,
    ready: (status) => notify(status === undefined ? { READY: "1" } : { READY: "1", STATUS: status }),
    status: (text) => notify({ STATUS: text }),
    watchdog: () => notify({ WATCHDOG: "1" }),
    stopping: () => notify({ STOPPING: "1" }),
    close() {
      // Closed stays closed: a late ping after shutdown must not reopen (and leak) a socket.
      closed = true;
      if (fd >= 0 && libc) libc.close(fd);
      fd = -1;
    },
  };
}

function errnoName(code: number): string {
  return ERRNO_NAMES.get(code) ?? `errno ${code}`;
}
