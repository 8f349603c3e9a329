// Wyoming wire framing: a JSON header line, then `data_length` bytes of JSON merged into `data`, then
// `payload_length` bytes of payload. Bytes in, events or errors out; hostile input never throws.

/** One Wyoming event. `data` is always an object; a zero-length payload is the same as none. */
export interface WyomingEvent {
  type: string;
  data: Record<string, unknown>;
  payload?: Uint8Array;
}

export interface FrameLimits {
  /** Header line without its newline. */
  maxHeaderBytes: number;
  maxDataBytes: number;
  maxPayloadBytes: number;
}

/** Bounds what one peer can make us buffer: 4 MiB of payload is two minutes of 16 kHz mono audio. */
export const DEFAULT_FRAME_LIMITS: Readonly<FrameLimits> = Object.freeze({
  maxHeaderBytes: 64 * 1024,
  maxDataBytes: 1024 * 1024,
  maxPayloadBytes: 4 * 1024 * 1024,
});

/** Written into every header as `version`; the feature level of the events we implement. */
export const WYOMING_VERSION = "1.6.1";

/** Event types are short identifiers; a long one is garbage, not a future event. */
const MAX_TYPE_CHARS = 256;

export type FrameField = "header" | "type" | "data" | "data_length" | "payload_length" | "payload";

/**
 * `fatal` means the byte stream can no longer be split into frames (a length we cannot trust or
 * refuse to buffer, or a stream cut mid-frame); the decoder stops and the connection should close.
 */
export interface FrameError {
  field: FrameField;
  message: string;
  fatal: boolean;
}

export type Decoded = { kind: "event"; event: WyomingEvent } | { kind: "error"; error: FrameError };

export interface FrameDecoder {
  /** Feed any slice of the stream; returns what completed, in order. Copies what it keeps. */
  push(chunk: Uint8Array): Decoded[];
  /** The peer closed: an unfinished frame becomes a truncation error. */
  end(): Decoded[];
  /** True after a fatal error; later input is ignored. */
  readonly failed: boolean;
  /** Bytes held for the frame in progress; never more than the limits allow. */
  buffered(): number;
}

const utf8 = new TextEncoder();
const NEWLINE = 0x0a;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function parseJson(bytes: Uint8Array): { ok: true; value: unknown } | { ok: false } {
  try {
    // fatal: invalid UTF-8 is refused rather than silently replaced.
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    return { ok: true, value: JSON.parse(text) };
  } catch {
    // Covers bad UTF-8, bad JSON and the RangeError of absurdly deep nesting.
    return { ok: false };
  }
}

const fail = (field: FrameField, message: string, fatal = false): FrameError => ({ field, message, fatal });

/** Absent or null means zero, as the Python reference reads it. */
function readLength(value: unknown, field: FrameField, max: number): number | FrameError {
  if (value === undefined || value === null) return 0;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    return fail(field, `${field} must be a non-negative integer`, true);
  }
  if (value > max) return fail(field, `${field} ${value} exceeds the limit of ${max} bytes`, true);
  return value;
}

interface PendingFrame {
  type: string;
  data: Record<string, unknown>;
  /** Set when the header was readable but wrong: the body is still consumed to stay in sync. */
  problem?: FrameError;
  body: Uint8Array;
  dataLength: number;
  filled: number;
}

/**
 * Resync rule: a header line that is not a JSON object with a valid `type` and `data` is reported
 * and skipped, and decoding resumes after its newline, because the line boundary is still known.
 * Lengths that are invalid or over the limits, an over-long header line and a stream cut mid-frame
 * are fatal: we cannot know where the next frame starts without trusting or buffering them.
 */
export function createFrameDecoder(limits: Partial<FrameLimits> = {}): FrameDecoder {
  const lim: FrameLimits = { ...DEFAULT_FRAME_LIMITS, ...limits };
  let header = new Uint8Array(256);
  let headerLen = 0;
  let pending: PendingFrame | null = null;
  let failed = false;

  const appendHeader = (bytes: Uint8Array) => {
    if (headerLen + bytes.length > header.length) {
      const grown = new Uint8Array(
        Math.min(Math.max(header.length * 2, headerLen + bytes.length), lim.maxHeaderBytes),
      );
      grown.set(header.subarray(0, headerLen));
      header = grown;
    }
    header.set(bytes, headerLen);
    headerLen += bytes.length;
  };

  /** Parses a complete header line; returns an error, or null once `pending` is set up. */
  const startFrame = (line: Uint8Array): FrameError | null => {
    const parsed = parseJson(line);
    if (!parsed.ok) return fail("header", "header line is not UTF-8 JSON");
    const h = parsed.value;
    if (!isPlainObject(h)) return fail("header", "header is not a JSON object");
    const dataLength = readLength(h.data_length, "data_length", lim.maxDataBytes);
    if (typeof dataLength !== "number") return dataLength;
    const payloadLength = readLength(h.payload_length, "payload_length", lim.maxPayloadBytes);
    if (typeof payloadLength !== "number") return payloadLength;
    let problem: FrameError | undefined;
    const type = h.type;
    if (typeof type !== "string" || type.length === 0 || type.length > MAX_TYPE_CHARS) {
      problem = fail("type", `type must be a string of 1-${MAX_TYPE_CHARS} characters`);
    }
    const data = h.data ?? {};
    if (!isPlainObject(data)) problem ??= fail("data", "data must be a JSON object");
    pending = {
      type: typeof type === "string" ? type : "",
      data: isPlainObject(data) ? data : {},
      problem,
      body: new Uint8Array(dataLength + payloadLength),
      dataLength,
      filled: 0,
    };
    return null;
  };

  const finishFrame = (frame: PendingFrame): Decoded => {
    if (frame.problem) return { kind: "error", error: frame.problem };
    let data = frame.data;
    if (frame.dataLength > 0) {
      const extra = parseJson(frame.body.subarray(0, frame.dataLength));
      if (!extra.ok || !isPlainObject(extra.value)) {
        return { kind: "error", error: fail("data", "data section is not a UTF-8 JSON object") };
      }
      // Spread, not Object.assign: a "__proto__" key stays a plain property.
      data = { ...data, ...extra.value };
    }
    const event: WyomingEvent = { type: frame.type, data };
    if (frame.body.length > frame.dataLength) event.payload = frame.body.subarray(frame.dataLength);
    return { kind: "event", event };
  };

  const push = (chunk: Uint8Array): Decoded[] => {
    const out: Decoded[] = [];
    let at = 0;
    while (!failed && at < chunk.length) {
      if (pending) {
        const take = Math.min(pending.body.length - pending.filled, chunk.length - at);
        pending.body.set(chunk.subarray(at, at + take), pending.filled);
        pending.filled += take;
        at += take;
      } else {
        const nl = chunk.indexOf(NEWLINE, at);
        const end = nl < 0 ? chunk.length : nl;
        if (headerLen + (end - at) > lim.maxHeaderBytes) {
          failed = true;
          out.push({
            kind: "error",
            error: fail("header", `header line exceeds ${lim.maxHeaderBytes} bytes`, true),
          });
          break;
        }
        appendHeader(chunk.subarray(at, end));
        at = end;
        if (nl < 0) break;
        at += 1;
        const error = startFrame(header.subarray(0, headerLen));
        headerLen = 0;
        if (error) {
          out.push({ kind: "error", error });
          if (error.fatal) failed = true;
          continue;
        }
      }
      if (pending && pending.filled === pending.body.length) {
        out.push(finishFrame(pending));
        pending = null;
      }
    }
    return out;
  };

  return {
    push,
    end() {
      if (failed || (!pending && headerLen === 0)) return [];
      failed = true;
      const field: FrameField = pending
        ? pending.filled < pending.dataLength
          ? "data"
          : "payload"
        : "header";
      pending = null;
      headerLen = 0;
      return [{ kind: "error", error: fail(field, "stream ended in the middle of a frame", true) }];
    },
    get failed() {
      return failed;
    },
    buffered: () => headerLen + (pending?.filled ?? 0),
  };
}

/**
 * One frame as the Python reference writes it: data in its own section, lengths only when
 * non-zero. Returns an error, not bytes, for an event the peer's decoder would refuse.
 */
export function encodeEvent(
  event: WyomingEvent,
  opts: { version?: string; limits?: Partial<FrameLimits> } = {},
): Uint8Array | FrameError {
  const lim: FrameLimits = { ...DEFAULT_FRAME_LIMITS, ...opts.limits };
  if (typeof event.type !== "string" || event.type.length === 0 || event.type.length > MAX_TYPE_CHARS) {
    return fail("type", `type must be a string of 1-${MAX_TYPE_CHARS} characters`);
  }
  const header: Record<string, unknown> = { type: event.type, version: opts.version ?? WYOMING_VERSION };
  let dataBytes: Uint8Array | undefined;
  let json: string | undefined;
  try {
    json = isPlainObject(event.data ?? {}) ? JSON.stringify(event.data ?? {}) : undefined;
  } catch {
    // A cycle or a BigInt: our own bug, reported rather than thrown into the write path.
  }
  if (json === undefined) return fail("data", "data must be a JSON-serialisable object");
  if (json !== "{}") {
    dataBytes = utf8.encode(json);
    if (dataBytes.length > lim.maxDataBytes) {
      return fail("data_length", `data of ${dataBytes.length} bytes exceeds ${lim.maxDataBytes}`);
    }
    header.data_length = dataBytes.length;
  }
  const payload = event.payload && event.payload.length > 0 ? event.payload : undefined;
  if (payload) {
    if (payload.length > lim.maxPayloadBytes) {
      return fail("payload_length", `payload of ${payload.length} bytes exceeds ${lim.maxPayloadBytes}`);
    }
    header.payload_length = payload.length;
  }
  const headerBytes = utf8.encode(JSON.stringify(header));
  if (headerBytes.length > lim.maxHeaderBytes) return fail("header", "header line is too long");
  const dataLen = dataBytes?.length ?? 0;
  const out = new Uint8Array(headerBytes.length + 1 + dataLen + (payload?.length ?? 0));
  out.set(headerBytes);
  out[headerBytes.length] = NEWLINE;
  if (dataBytes) out.set(dataBytes, headerBytes.length + 1);
  if (payload) out.set(payload, headerBytes.length + 1 + dataLen);
  return out;
}
