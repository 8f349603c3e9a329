// Buffered little-endian reads through a file handle, for parsing model headers without loading the
// file: a multi-gigabyte model is read one chunk at a time and every read is checked against its end.
import { type FileHandle, open } from "node:fs/promises";
import { type KianaError, kianaError } from "../errors.ts";

export interface ByteReader {
  readonly path: string;
  /** File size in bytes when it was opened. */
  readonly size: number;
  /** Offset of the next read. */
  readonly position: number;
  seek(offset: number): void;
  /** Advances without reading; refuses to move past the end of the file. */
  skip(n: number, field: string): void;
  u8(field: string): Promise<number>;
  u16(field: string): Promise<number>;
  i16(field: string): Promise<number>;
  u32(field: string): Promise<number>;
  i32(field: string): Promise<number>;
  /** 64-bit values come back as numbers when exact, as bigints when not. */
  u64(field: string): Promise<number | bigint>;
  i64(field: string): Promise<number | bigint>;
  f32(field: string): Promise<number>;
  f64(field: string): Promise<number>;
  /** A fresh copy of the next n bytes; callers cap n before asking. */
  bytes(n: number, field: string): Promise<Uint8Array>;
  /** MODEL_FILE_INVALID naming the file, the field and the offset. */
  invalid(field: string, offset: number, problem: string): KianaError;
  close(): Promise<void>;
}

export interface OpenByteReaderOptions {
  /** Bytes read per refill; headers are small, so a modest chunk keeps memory flat. */
  chunkBytes?: number;
}

const DEFAULT_CHUNK = 1 << 20;

export async function openByteReader(path: string, opts: OpenByteReaderOptions = {}): Promise<ByteReader> {
  let fh: FileHandle;
  try {
    fh = await open(path, "r");
  } catch (cause) {
    const missing = (cause as NodeJS.ErrnoException).code === "ENOENT";
    throw kianaError(
      missing ? "MODEL_NOT_FOUND" : "MODEL_FILE_INVALID",
      missing ? `model file ${path} does not exist` : `model file ${path} cannot be opened`,
      { path },
      cause,
    );
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw kianaError("MODEL_FILE_INVALID", `${path} is not a regular file`, { path });
    return createByteReader(fh, path, st.size, opts.chunkBytes ?? DEFAULT_CHUNK);
  } catch (err) {
    await fh.close();
    throw err;
  }
}

function createByteReader(fh: FileHandle, path: string, size: number, chunkBytes: number): ByteReader {
  const buf = new Uint8Array(chunkBytes);
  const view = new DataView(buf.buffer);
  let bufStart = 0;
  let bufLen = 0;
  let pos = 0;

  const invalid = (field: string, offset: number, problem: string) =>
    kianaError("MODEL_FILE_INVALID", `${path}: ${field} at offset ${offset}: ${problem}`, {
      path,
      field,
      offset,
    });

  function checkRange(n: number, field: string): void {
    if (pos + n > size) {
      throw invalid(field, pos, `needs ${n} bytes but the file ends at ${size} (truncated?)`);
    }
  }

  /** Makes n bytes at pos available in buf (n ≤ chunk) and returns their index in buf. */
  async function need(n: number, field: string): Promise<number> {
    checkRange(n, field);
    if (pos < bufStart || pos + n > bufStart + bufLen) {
      const want = Math.min(chunkBytes, size - pos);
      let got = 0;
      try {
        while (got < want) {
          const { bytesRead } = await fh.read(buf, got, want - got, pos + got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
      } catch (cause) {
        throw kianaError("MODEL_FILE_INVALID", `${path}: read failed at offset ${pos}`, { path }, cause);
      }
      bufStart = pos;
      bufLen = got;
      if (got < n) throw invalid(field, pos, "the file shrank while it was being read");
    }
    const at = pos - bufStart;
    pos += n;
    return at;
  }

  const exact = (v: bigint): number | bigint =>
    v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;

  return {
    path,
    size,
    get position() {
      return pos;
    },
    seek(offset) {
      pos = offset;
    },
    skip(n, field) {
      checkRange(n, field);
      pos += n;
    },
    u8: async (f) => buf[await need(1, f)] as number,
    u16: async (f) => view.getUint16(await need(2, f), true),
    i16: async (f) => view.getInt16(await need(2, f), true),
    u32: async (f) => view.getUint32(await need(4, f), true),
    i32: async (f) => view.getInt32(await need(4, f), true),
    u64: async (f) => exact(view.getBigUint64(await need(8, f), true)),
    i64: async (f) => exact(view.getBigInt64(await need(8, f), true)),
    f32: async (f) => view.getFloat32(await need(4, f), true),
    f64: async (f) => view.getFloat64(await need(8, f), true),
    async bytes(n, field) {
      checkRange(n, field);
      const out = new Uint8Array(n);
      for (let done = 0; done < n; ) {
        const step = Math.min(chunkBytes, n - done);
        const at = await need(step, field);
        out.set(buf.subarray(at, at + step), done);
        done += step;
      }
      return out;
    },
    invalid,
    close: () => fh.close(),
  };
}
