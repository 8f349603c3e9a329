// Strict JSON codecs for the bodies of `vote` and `checkpoint` blocks. Bodies come from peers, so a
// decoder never throws: it names the first bad field, and only the one canonical encoding is accepted.
import { kianaError } from "../../errors.ts";
import type { Decoded } from "../block.ts";

/** Far below MAX_BODY_BYTES: a proposal with one head per device of a large fleet still fits. */
export const MAX_AUTHORITY_BODY_BYTES = 16 * 1024;
/** The `prev` of a height-1 proposal: there is no earlier final checkpoint. */
export const ZERO_ID = "0".repeat(64);

export type ValidatorVoteKind = "add-validator" | "remove-validator";
export type BlockVoteKind = "confirm" | "dispute";

export type ValidatorVoteBody = { v: 1; kind: ValidatorVoteKind; validator: string };
/** A vote on block `seq` of `author`'s log (a knowledge block). */
export type BlockVoteBody = { v: 1; kind: BlockVoteKind; author: string; seq: number };
export type VoteBody = ValidatorVoteBody | BlockVoteBody;

export const isBlockVote = (b: VoteBody): b is BlockVoteBody => b.kind === "confirm" || b.kind === "dispute";

/** One log head a checkpoint records: the author's signed root at `length` (hex). */
export interface Head {
  author: string;
  length: number;
  root: string;
}

export type ProposeBody = { v: 1; kind: "propose"; height: number; prev: string; heads: Head[] };
export type EndorseBody = { v: 1; kind: "endorse"; checkpoint: string; height: number };
export type CheckpointBody = ProposeBody | EndorseBody;

const FP = /^[0-9a-f]{32}$/;
const HEX64 = /^[0-9a-f]{64}$/;

type Json = Record<string, unknown>;
type Check<T> = { ok: true; value: T } | { ok: false; reason: string };
const fail = (reason: string): { ok: false; reason: string } => ({ ok: false, reason });

const isObject = (x: unknown): x is Json => typeof x === "object" && x !== null && !Array.isArray(x);
const isCount = (x: unknown, min: number): x is number =>
  typeof x === "number" && Number.isSafeInteger(x) && x >= min && !Object.is(x, -0);

/** Names the first missing or unexpected key, so a peer's bug report points at the field. */
function keyProblem(o: Json, keys: readonly string[], where = ""): string | undefined {
  for (const k of keys) if (!Object.hasOwn(o, k)) return `${where}${k}: missing`;
  for (const k of Object.keys(o)) if (!keys.includes(k)) return `${where}${k}: unexpected key`;
  return undefined;
}

/** UTF-8 (fatal), size cap and JSON.parse, each refusal a reason rather than an exception. */
function parse(bytes: unknown): Check<Json> {
  if (!(bytes instanceof Uint8Array)) return fail("body: not bytes");
  if (bytes.length > MAX_AUTHORITY_BODY_BYTES)
    return fail(`body: ${bytes.length} bytes, over ${MAX_AUTHORITY_BODY_BYTES}`);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return fail("body: not UTF-8");
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return fail("body: not JSON");
  }
  if (!isObject(value)) return fail("body: not a JSON object");
  if (value.v !== 1) return fail(Object.hasOwn(value, "v") ? "v: unsupported version" : "v: missing");
  return { ok: true, value };
}

/**
 * Re-encoding must give back the very bytes: this refuses duplicate keys (JSON.parse keeps the
 * last), other key orders, spacing and number spellings, so one body has one block hash.
 */
function canonical<T>(bytes: Uint8Array, value: T, encode: (v: T) => string): Decoded<T> {
  const again = new TextEncoder().encode(encode(value));
  if (again.length !== bytes.length || again.some((b, i) => b !== bytes[i]))
    return fail("body: not in canonical form (key order, spacing, number spelling or duplicate keys)");
  return { ok: true, value };
}

const voteJson = (b: VoteBody) =>
  isBlockVote(b)
    ? JSON.stringify({ v: 1, kind: b.kind, author: b.author, seq: b.seq })
    : JSON.stringify({ v: 1, kind: b.kind, validator: b.validator });

const checkpointJson = (b: CheckpointBody) =>
  b.kind === "propose"
    ? JSON.stringify({
        v: 1,
        kind: b.kind,
        height: b.height,
        prev: b.prev,
        heads: Array.isArray(b.heads)
          ? b.heads.map((h) => ({ author: h.author, length: h.length, root: h.root }))
          : b.heads,
      })
    : JSON.stringify({ v: 1, kind: b.kind, checkpoint: b.checkpoint, height: b.height });

function checkVote(o: Json): Check<VoteBody> {
  const { kind } = o;
  if (kind === "add-validator" || kind === "remove-validator") {
    const bad = keyProblem(o, ["v", "kind", "validator"]);
    if (bad) return fail(bad);
    if (typeof o.validator !== "string" || !FP.test(o.validator))
      return fail("validator: not a 32-hex-digit fingerprint");
    return { ok: true, value: { v: 1, kind, validator: o.validator } };
  }
  if (kind === "confirm" || kind === "dispute") {
    const bad = keyProblem(o, ["v", "kind", "author", "seq"]);
    if (bad) return fail(bad);
    if (typeof o.author !== "string" || !FP.test(o.author))
      return fail("author: not a 32-hex-digit fingerprint");
    if (!isCount(o.seq, 0)) return fail("seq: not a safe non-negative integer");
    return { ok: true, value: { v: 1, kind, author: o.author, seq: o.seq } };
  }
  return fail("kind: not a vote kind");
}

function checkHeads(list: unknown): Check<Head[]> {
  if (!Array.isArray(list)) return fail("heads: not an array");
  const heads: Head[] = [];
  for (const [i, h] of list.entries()) {
    const at = `heads[${i}].`;
    if (!isObject(h)) return fail(`heads[${i}]: not an object`);
    const bad = keyProblem(h, ["author", "length", "root"], at);
    if (bad) return fail(bad);
    if (typeof h.author !== "string" || !FP.test(h.author)) return fail(`${at}author: not a fingerprint`);
    if (!isCount(h.length, 1)) return fail(`${at}length: not a safe positive integer`);
    if (typeof h.root !== "string" || !HEX64.test(h.root)) return fail(`${at}root: not 64 hex digits`);
    const before = heads.at(-1);
    if (before && before.author >= h.author) return fail(`${at}author: not sorted or not unique`);
    heads.push({ author: h.author, length: h.length, root: h.root });
  }
  return { ok: true, value: heads };
}

function checkCheckpoint(o: Json): Check<CheckpointBody> {
  if (o.kind === "propose") {
    const bad = keyProblem(o, ["v", "kind", "height", "prev", "heads"]);
    if (bad) return fail(bad);
    if (!isCount(o.height, 1)) return fail("height: not a safe positive integer");
    if (typeof o.prev !== "string" || !HEX64.test(o.prev)) return fail("prev: not 64 hex digits");
    if ((o.height === 1) !== (o.prev === ZERO_ID))
      return fail("prev: must be 64 zeros at height 1 and only there");
    const heads = checkHeads(o.heads);
    if (!heads.ok) return heads;
    return { ok: true, value: { v: 1, kind: "propose", height: o.height, prev: o.prev, heads: heads.value } };
  }
  if (o.kind === "endorse") {
    const bad = keyProblem(o, ["v", "kind", "checkpoint", "height"]);
    if (bad) return fail(bad);
    if (typeof o.checkpoint !== "string" || !HEX64.test(o.checkpoint))
      return fail("checkpoint: not 64 hex digits");
    if (!isCount(o.height, 1)) return fail("height: not a safe positive integer");
    return { ok: true, value: { v: 1, kind: "endorse", checkpoint: o.checkpoint, height: o.height } };
  }
  return fail("kind: not a checkpoint kind");
}

export function decodeVote(bytes: Uint8Array): Decoded<VoteBody> {
  const parsed = parse(bytes);
  if (!parsed.ok) return parsed;
  const vote = checkVote(parsed.value);
  return vote.ok ? canonical(bytes, vote.value, voteJson) : vote;
}

export function decodeCheckpoint(bytes: Uint8Array): Decoded<CheckpointBody> {
  const parsed = parse(bytes);
  if (!parsed.ok) return parsed;
  const body = checkCheckpoint(parsed.value);
  return body.ok ? canonical(bytes, body.value, checkpointJson) : body;
}

/** Canonical bytes of a vote; refuses (CHAIN_VOTE_INVALID) what no peer would accept. */
export function encodeVote(body: VoteBody): Uint8Array {
  const bytes = new TextEncoder().encode(voteJson(body));
  const back = decodeVote(bytes);
  if (!back.ok) throw kianaError("CHAIN_VOTE_INVALID", `cannot encode the vote: ${back.reason}`);
  return bytes;
}

/** Canonical bytes of a proposal or endorsement; refuses (CHAIN_CHECKPOINT_INVALID) bad ones. */
export function encodeCheckpoint(body: CheckpointBody): Uint8Array {
  const bytes = new TextEncoder().encode(checkpointJson(body));
  const back = decodeCheckpoint(bytes);
  if (!back.ok) throw kianaError("CHAIN_CHECKPOINT_INVALID", `cannot encode the checkpoint: ${back.reason}`);
  return bytes;
}
