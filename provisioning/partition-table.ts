// Finds the FAT boot partition of a disk image or card from its first sectors: MBR and GPT read as
// plain bytes, so mtools can edit it at a byte offset without mounting or a loop device.
import { closeSync, openSync, readSync } from "node:fs";
import { provisionError } from "./errors.ts";

export const SECTOR = 512;

export interface Partition {
  index: number;
  /** Byte offset of the partition's first sector. */
  offset: number;
  bytes: number;
  /** MBR type byte as hex ("0c") or the GPT type GUID in lowercase. */
  type: string;
  fat: boolean;
}

// MBR types that hold FAT: FAT12, FAT16 (<32M, >32M), FAT32 (CHS, LBA), FAT16 LBA, EFI system.
const MBR_FAT = new Set([0x01, 0x04, 0x06, 0x0b, 0x0c, 0x0e, 0xef]);
const GPT_FAT = new Set([
  "c12a7328-f81f-11d2-ba4b-00a0c93ec93b", // EFI system partition
  "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7", // Microsoft basic data, what sfdisk calls "FAT"
]);

/** GPT GUIDs store their first three groups little-endian. */
function guid(b: Uint8Array): string {
  const h = (from: number, to: number, reverse: boolean) => {
    const part = Array.from(b.subarray(from, to), (x) => x.toString(16).padStart(2, "0"));
    return (reverse ? part.reverse() : part).join("");
  };
  return [h(0, 4, true), h(4, 6, true), h(6, 8, true), h(8, 10, false), h(10, 16, false)].join("-");
}

/** Reads the partition table. `read(offset, length)` returns the bytes there (short at the end). */
export function readPartitions(read: (offset: number, length: number) => Uint8Array): Partition[] {
  const mbr = read(0, SECTOR);
  if (mbr.length < SECTOR || mbr[510] !== 0x55 || mbr[511] !== 0xaa)
    throw provisionError(
      "PROVISION_IMAGE_INVALID",
      "no partition table: the first sector has no 55 AA signature",
    );
  const view = new DataView(mbr.buffer, mbr.byteOffset, mbr.byteLength);
  const entries = [0, 1, 2, 3].map((i) => {
    const at = 446 + i * 16;
    return {
      type: mbr[at + 4] ?? 0,
      start: view.getUint32(at + 8, true),
      count: view.getUint32(at + 12, true),
    };
  });
  if (entries.some((e) => e.type === 0xee)) return readGpt(read);
  return entries.flatMap((e, i) =>
    e.type === 0 || e.count === 0
      ? []
      : [
          {
            index: i + 1,
            offset: e.start * SECTOR,
            bytes: e.count * SECTOR,
            type: e.type.toString(16).padStart(2, "0"),
            fat: MBR_FAT.has(e.type),
          },
        ],
  );
}

function readGpt(read: (offset: number, length: number) => Uint8Array): Partition[] {
  const header = read(SECTOR, 92);
  if (new TextDecoder().decode(header.subarray(0, 8)) !== "EFI PART")
    throw provisionError(
      "PROVISION_IMAGE_INVALID",
      "the MBR is a GPT protective one but LBA 1 has no GPT header",
    );
  const hv = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const entriesLba = Number(hv.getBigUint64(72, true));
  const count = hv.getUint32(80, true);
  const size = hv.getUint32(84, true);
  if (count > 1024 || size < 128 || size > 4096)
    throw provisionError("PROVISION_IMAGE_INVALID", `GPT header names ${count} entries of ${size} bytes`);
  const table = read(entriesLba * SECTOR, count * size);
  const out: Partition[] = [];
  for (let i = 0; i < count; i++) {
    const e = table.subarray(i * size, (i + 1) * size);
    if (e.length < 128) break;
    const type = guid(e.subarray(0, 16));
    if (type === "00000000-0000-0000-0000-000000000000") continue;
    const ev = new DataView(e.buffer, e.byteOffset, e.byteLength);
    const first = Number(ev.getBigUint64(32, true));
    const last = Number(ev.getBigUint64(40, true));
    out.push({
      index: i + 1,
      offset: first * SECTOR,
      bytes: (last - first + 1) * SECTOR,
      type,
      fat: GPT_FAT.has(type),
    });
  }
  return out;
}

/** True when the partition's first sector is a FAT boot sector (checked, since type bytes can lie). */
export function looksLikeFat(bootSector: Uint8Array): boolean {
  if (bootSector.length < SECTOR || bootSector[510] !== 0x55 || bootSector[511] !== 0xaa) return false;
  const text = (from: number) => new TextDecoder().decode(bootSector.subarray(from, from + 3));
  return text(54) === "FAT" || text(82) === "FAT";
}

/** The first FAT partition of the image or device at `path`. */
export function findBootPartition(path: string): Partition {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    throw provisionError("PROVISION_IMAGE_INVALID", `cannot open ${path}: ${(err as Error).message}`, err);
  }
  try {
    const read = (offset: number, length: number) => {
      const buf = new Uint8Array(length);
      const n = readSync(fd, buf, 0, length, offset);
      return buf.subarray(0, n);
    };
    const parts = readPartitions(read);
    const boot = parts.find((p) => p.fat && looksLikeFat(read(p.offset, SECTOR)));
    if (!boot)
      throw provisionError(
        "PROVISION_IMAGE_INVALID",
        `${path} has no FAT boot partition (partitions: ${parts.map((p) => `${p.index}:${p.type}`).join(", ") || "none"})`,
      );
    return boot;
  } finally {
    closeSync(fd);
  }
}
