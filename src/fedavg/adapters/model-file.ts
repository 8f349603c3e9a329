// Global models on disk (`<data>/fedavg/*.kfm`, the wire format of encodeModel): written aside,
// fsynced and renamed, so a power cut leaves the old model or the whole new one, never half of one.
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";
import { decodeModel, encodeModel, sha256Hex } from "../messages.ts";

export interface StoredModel {
  version: number;
  params: Float32Array;
  /** sha256 of the model bytes: what the chain's model-release block names. */
  hash: string;
}

export function saveModel(path: string, version: number, params: Float32Array): StoredModel {
  const bytes = encodeModel(version, params);
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w", 0o644);
  try {
    writeSync(fd, bytes);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  return { version, params, hash: sha256Hex(bytes) };
}

/** The model at `path` if it is one of `expectParams` weights; otherwise null with the reason. */
export function loadModel(
  path: string,
  expectParams: number,
): { model: StoredModel | null; problem?: string } {
  if (!existsSync(path)) return { model: null };
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch (err) {
    return { model: null, problem: `cannot read ${path}: ${(err as Error).message}` };
  }
  const d = decodeModel(bytes, expectParams);
  if (!d.ok) return { model: null, problem: `${path}: ${d.reason}` };
  return { model: { version: d.version, params: d.params, hash: sha256Hex(bytes) } };
}
