// The boot partition found from raw MBR/GPT bytes agrees with sfdisk's own reading of the table.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findBootPartition, readPartitions } from "./partition-table.ts";
import { buildTestImage } from "./test-image.test-helper.ts";

const work = mkdtempSync(join(tmpdir(), "kiana-parts-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function sfdisk(image: string): { start: number; size: number; type: string }[] {
  const res = Bun.spawnSync(["sfdisk", "--json", image], { stdout: "pipe", stderr: "pipe" });
  return JSON.parse(res.stdout.toString()).partitiontable.partitions;
}

test.each(["dos", "gpt"] as const)(
  "%s: every partition matches sfdisk, and the FAT one is the boot partition",
  (label) => {
    const image = buildTestImage(work, label);
    const bytes = new Uint8Array(readFileSync(image));
    const parts = readPartitions((offset, length) => bytes.subarray(offset, offset + length));
    expect(parts.map((p) => [p.offset / 512, p.bytes / 512, p.type])).toEqual(
      sfdisk(image).map((p) => [p.start, p.size, p.type.toLowerCase().padStart(2, "0")]),
    );
    expect(findBootPartition(image)).toMatchObject({ index: 1, offset: 2048 * 512, fat: true });
  },
);

test("a partition typed FAT that holds no FAT file system is not taken for the boot partition", () => {
  const image = join(work, "typed-only.img");
  writeFileSync(image, new Uint8Array(4 * 1024 * 1024));
  Bun.spawnSync(["sfdisk", "--quiet", image], {
    stdin: new TextEncoder().encode("label: dos\nstart=2048, type=c\n"),
  });
  expect(() => findBootPartition(image)).toThrow("has no FAT boot partition (partitions: 1:0c)");
});
