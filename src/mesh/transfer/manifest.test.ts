import { describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isKianaError } from "../../errors.ts";
import { createManualClock } from "../../platform/clock.ts";
import { chunkCount, chunkRange, createChunkLedger, parseOffer, type TransferOffer } from "./manifest.ts";
import { hashFile, openStaging } from "./staging.ts";
import { createStallWatch } from "./stall.ts";
import { tempFolder, writeTestFile } from "./transfer.test-helper.ts";

const offer: TransferOffer = {
  id: "ab".repeat(16),
  name: "f.bin",
  size: 10_000,
  sha256: "0".repeat(64),
  chunkSize: 4096,
};
const bytes = (n: number, fill = 1) => new Uint8Array(n).fill(fill);

describe("offer", () => {
  test("a valid offer passes; each bad field is named", () => {
    expect(parseOffer(offer)).toEqual(offer);
    const cases: [Partial<Record<keyof TransferOffer, unknown>>, string][] = [
      [{ id: "xyz" }, "id"],
      [{ name: "../etc/passwd" }, "name"],
      [{ name: ".." }, "name"],
      [{ size: -1 }, "size"],
      [{ sha256: "ABC" }, "sha256"],
      [{ chunkSize: 1024 * 1024 }, "chunkSize"],
    ];
    for (const [over, field] of cases) {
      let err: unknown;
      try {
        parseOffer({ ...offer, ...over });
      } catch (e) {
        err = e;
      }
      expect(isKianaError(err, "TRANSFER_OFFER_INVALID") && err.details.field).toBe(field);
    }
  }, 2000);

  test("chunks cover the file exactly, the last one short", () => {
    expect(chunkCount(offer)).toBe(3);
    expect(chunkRange(offer, 2)).toEqual({ start: 8192, end: 10_000 });
    expect(chunkCount({ size: 0, chunkSize: 4096 })).toBe(0);
  }, 2000);
});

describe("chunk ledger", () => {
  test("out-of-order chunks are held and written in order; duplicates and strays are refused", () => {
    const l = createChunkLedger(offer);
    expect(l.missing(8)).toEqual([0, 4096, 8192]);
    expect(l.accept(8192, bytes(1808))).toBe(true);
    expect(l.takeReady()).toEqual([]);
    expect(l.accept(8192, bytes(1808))).toBe(false); // duplicate
    expect(l.accept(4096, bytes(100))).toBe(false); // wrong length
    expect(l.accept(4000, bytes(4096))).toBe(false); // off the chunk grid
    expect(l.accept(4096, bytes(4096))).toBe(true);
    expect(l.missing(8)).toEqual([0]);
    expect(l.accept(0, bytes(4096))).toBe(true);
    expect(l.takeReady().map((b) => b.length)).toEqual([4096, 4096, 1808]);
    expect(l.complete).toBe(true);
    expect(l.pendingBytes).toBe(0);
    expect(l.accept(0, bytes(4096))).toBe(false); // already written
  }, 2000);

  test("resuming mid-chunk (after an HTTP path) re-aligns on the next chunk boundary", () => {
    const l = createChunkLedger(offer, 5000);
    expect(l.resumeOffset).toBe(5000);
    expect(l.missing(8)).toEqual([5000, 8192]);
    expect(l.accept(5000, bytes(3192))).toBe(true);
    expect(l.takeReady()[0]?.length).toBe(3192);
    expect(l.resumeOffset).toBe(8192);
  }, 2000);

  test("nothing is held beyond the window limit, and a bad resume point is refused", () => {
    const l = createChunkLedger(offer, 0, 4096);
    expect(l.accept(4096, bytes(4096))).toBe(false);
    expect(() => createChunkLedger(offer, 10_001)).toThrow(/outside/);
  }, 2000);
});

describe("staging file", () => {
  test("resumes from the part file, renames only when the sha256 matches", async () => {
    const tmp = tempFolder();
    try {
      const src = join(tmp.dir, "src.bin");
      const sha256 = await writeTestFile(src, 300_000);
      expect(await hashFile(src)).toBe(sha256);
      const data = await Bun.file(src).bytes();
      const good = { ...offer, size: data.length, sha256 };
      const dest = join(tmp.dir, "out.bin");
      let s = await openStaging({ dest, offer: good });
      await s.append(data.subarray(0, 123_456));
      await s.close();
      s = await openStaging({ dest, offer: good });
      expect(s.offset).toBe(123_456);
      await s.append(data.subarray(123_456));
      await expect(s.append(bytes(1))).rejects.toThrow(/more than/);
      expect(await s.commit()).toBe(dest);
      expect(await hashFile(dest)).toBe(sha256);
      expect(existsSync(`${dest}.part`) || existsSync(`${dest}.part.json`)).toBe(false);
    } finally {
      tmp.remove();
    }
  }, 5000);

  test("a corrupted byte is caught by the sha256: nothing is renamed into place, the part is removed", async () => {
    const tmp = tempFolder();
    try {
      const src = join(tmp.dir, "src.bin");
      const sha256 = await writeTestFile(src, 100_000);
      const data = await Bun.file(src).bytes();
      data[50_000] = (data[50_000] ?? 0) ^ 0xff;
      const dest = join(tmp.dir, "out.bin");
      const s = await openStaging({ dest, offer: { ...offer, size: data.length, sha256 } });
      await s.append(data);
      const err = await s.commit().catch((e) => e);
      expect(isKianaError(err, "TRANSFER_HASH_MISMATCH")).toBe(true);
      expect(existsSync(dest)).toBe(false);
      expect(existsSync(`${dest}.part`)).toBe(false);
    } finally {
      tmp.remove();
    }
  }, 5000);

  test("a part file from another offer is started over", async () => {
    const tmp = tempFolder();
    try {
      const dest = join(tmp.dir, "out.bin");
      writeFileSync(`${dest}.part`, bytes(5000));
      writeFileSync(`${dest}.part.json`, JSON.stringify({ ...offer, id: "cd".repeat(16) }));
      const s = await openStaging({ dest, offer });
      expect(s.offset).toBe(0);
      await s.close();
    } finally {
      tmp.remove();
    }
  }, 5000);
});

describe("stall watch", () => {
  test("fires once after the quiet period, not while progress continues", () => {
    const clock = createManualClock();
    const stalls: number[] = [];
    const w = createStallWatch({ clock, stallMs: 1000, onStall: (ms) => stalls.push(ms) });
    for (let i = 0; i < 10; i++) {
      clock.advance(500);
      w.progress();
    }
    expect(stalls).toEqual([]);
    clock.advance(1300);
    expect(stalls.length).toBe(1);
    expect(stalls[0]).toBeGreaterThanOrEqual(1000);
    clock.advance(5000);
    expect(stalls.length).toBe(1);
  }, 2000);
});
