// Strict WAV (RIFF) reader and writer for 16-bit PCM, mono or stereo: what espeak-ng, sox, arecord and
// Piper write. Anything else is refused with a reason; hostile bytes never throw.

export interface WavAudio {
  sampleRate: number;
  channels: 1 | 2;
  /** Interleaved signed 16-bit samples (frames × channels). */
  samples: Int16Array;
}

export type WavParse = { ok: true; wav: WavAudio } | { ok: false; reason: string };

export interface WavLimits {
  /** Chunks read before giving up; a real file has three or four. Default 64. */
  maxChunks: number;
  /** Highest sample rate believed. Default 384000. */
  maxSampleRate: number;
}

const DEFAULT_LIMITS: WavLimits = { maxChunks: 64, maxSampleRate: 384_000 };
const FORMAT_PCM = 0x0001;
const FORMAT_EXTENSIBLE = 0xfffe;
/** Tail of the KSDATAFORMAT_SUBTYPE_PCM GUID that follows the 16-bit format tag in an extensible header. */
const PCM_GUID_TAIL = [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71];
/**
 * Writers that stream to a pipe (espeak-ng --stdout, arecord to stdout) cannot seek back to fill in
 * sizes and leave a placeholder near 2^31 or 2^32; such a size means "until the end of the bytes".
 */
const STREAMING_SIZE = 0x7fff_f000;

interface Format {
  sampleRate: number;
  channels: 1 | 2;
}

function tag(bytes: Uint8Array, at: number): string {
  return String.fromCharCode(...bytes.subarray(at, at + 4));
}

function readFormat(view: DataView, at: number, size: number, limits: WavLimits): Format | string {
  if (size < 16) return `fmt chunk is ${size} bytes, needs at least 16`;
  let format = view.getUint16(at, true);
  const channels = view.getUint16(at + 2, true);
  const sampleRate = view.getUint32(at + 4, true);
  const byteRate = view.getUint32(at + 8, true);
  const blockAlign = view.getUint16(at + 12, true);
  const bits = view.getUint16(at + 14, true);
  if (format === FORMAT_EXTENSIBLE) {
    if (size < 40) return `extensible fmt chunk is ${size} bytes, needs 40`;
    const sub = view.getUint16(at + 24, true);
    const tail = PCM_GUID_TAIL.every((b, i) => view.getUint8(at + 26 + i) === b);
    if (!tail) return "extensible format with a sub-format GUID that is not PCM";
    format = sub;
  }
  if (format !== FORMAT_PCM)
    return `format tag ${format} is not PCM (1): compressed and float WAVs are refused`;
  if (bits !== 16) return `${bits}-bit samples: only 16-bit PCM is read`;
  if (channels !== 1 && channels !== 2) return `${channels} channels: only mono and stereo are read`;
  if (sampleRate < 1 || sampleRate > limits.maxSampleRate)
    return `sample rate ${sampleRate} Hz is out of range`;
  if (blockAlign !== channels * 2) return `block align ${blockAlign} does not match ${channels} × 16-bit`;
  if (byteRate !== sampleRate * blockAlign) return `byte rate ${byteRate} does not match ${sampleRate} Hz`;
  return { sampleRate, channels };
}

/** Reads a WAV held in memory. The RIFF size and every chunk size are checked against the bytes present. */
export function parseWav(bytes: Uint8Array, limits: Partial<WavLimits> = {}): WavParse {
  const lim = { ...DEFAULT_LIMITS, ...limits };
  const fail = (reason: string): WavParse => ({ ok: false, reason });
  if (bytes.length < 12) return fail(`${bytes.length} bytes is too short for a RIFF header`);
  const head = tag(bytes, 0);
  if (head === "RIFX") return fail("big-endian RIFX files are not read");
  if (head !== "RIFF" || tag(bytes, 8) !== "WAVE") return fail("not a RIFF/WAVE file");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const riffSize = view.getUint32(4, true);
  const streaming = riffSize >= STREAMING_SIZE;
  if (!streaming && riffSize + 8 > bytes.length)
    return fail(`RIFF size says ${riffSize + 8} bytes but only ${bytes.length} are there`);
  // Bytes past the RIFF size (some tools append tags) are not part of the file.
  const end = streaming ? bytes.length : riffSize + 8;
  let format: Format | null = null;
  let at = 12;
  for (let n = 0; at < end; n++) {
    if (n >= lim.maxChunks) return fail(`more than ${lim.maxChunks} chunks`);
    if (at + 8 > end) return fail(`truncated chunk header at offset ${at}`);
    const id = tag(bytes, at);
    const declared = view.getUint32(at + 4, true);
    const body = at + 8;
    if (id === "data") {
      if (!format) return fail("data chunk comes before the fmt chunk");
      const blockAlign = format.channels * 2;
      let size = declared;
      if (declared >= STREAMING_SIZE && body + declared > end) {
        // A stream cut anywhere may end in half a frame; that half is dropped, not refused.
        size = end - body - ((end - body) % blockAlign);
      } else if (body + declared > end) {
        return fail(`data chunk says ${declared} bytes but only ${end - body} follow`);
      } else if (declared % blockAlign !== 0) {
        return fail(`data size ${declared} is not a whole number of ${blockAlign}-byte frames`);
      }
      const samples = new Int16Array(size / 2);
      for (let i = 0; i < samples.length; i++) samples[i] = view.getInt16(body + i * 2, true);
      return { ok: true, wav: { sampleRate: format.sampleRate, channels: format.channels, samples } };
    }
    if (body + declared > end) return fail(`${JSON.stringify(id)} chunk runs past the end of the file`);
    if (id === "fmt ") {
      if (format) return fail("more than one fmt chunk");
      const parsed = readFormat(view, body, declared, lim);
      if (typeof parsed === "string") return fail(parsed);
      format = parsed;
    }
    // Chunks are padded to an even length; other chunks (LIST, fact, ...) are skipped.
    at = body + declared + (declared & 1);
  }
  return fail(format ? "no data chunk" : "no fmt chunk");
}

/** Writes a canonical 44-byte-header PCM WAV. */
export function encodeWav(audio: WavAudio): Uint8Array {
  const { sampleRate, channels, samples } = audio;
  if (samples.length % channels !== 0) throw new RangeError("samples are not a whole number of frames");
  const dataBytes = samples.length * 2;
  const out = new Uint8Array(44 + dataBytes);
  const view = new DataView(out.buffer);
  const put = (at: number, s: string) => {
    for (let i = 0; i < 4; i++) out[at + i] = s.charCodeAt(i);
  };
  put(0, "RIFF");
  view.setUint32(4, 36 + dataBytes, true);
  put(8, "WAVE");
  put(12, "fmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, FORMAT_PCM, true);
  view.setUint16(22, channels, true);
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * channels * 2, true);
  view.setUint16(32, channels * 2, true);
  view.setUint16(34, 16, true);
  put(36, "data");
  view.setUint32(40, dataBytes, true);
  for (let i = 0; i < samples.length; i++) view.setInt16(44 + i * 2, samples[i] ?? 0, true);
  return out;
}
