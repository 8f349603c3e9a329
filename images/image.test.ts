// Disk-level checks. Always: the planned partition table, written by the real sfdisk into a sparse
// file, reads back as planned. For every image images/build left in images/out: its partition table,
// labels, boot partition and root file system are what the plan says (read with sfdisk, blkid,
// mtools and debugfs; no mounting).
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readTable, sh } from "./assemble.ts";
import {
  LABELS,
  type Layout,
  MiB,
  planLayout,
  renderCmdlineTxt,
  renderConfigTxt,
  renderFstab,
  requiredBootFiles,
  SECTOR,
  sfdiskScript,
} from "./plan.ts";
import type { Board } from "./rootfs.ts";

const scratch = mkdtempSync(join(tmpdir(), "kiana-image-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("partition table", () => {
  test("sfdisk writes the planned MBR table: four partitions at the planned sectors and types", () => {
    const layout = planLayout({ rootUsedBytes: 700 * MiB, bundleBytes: 120 * MiB });
    const img = join(scratch, "plan.img");
    sh(["truncate", "-s", String(layout.totalMiB * MiB), img]);
    sh(["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", img], { stdin: sfdiskScript(layout) });
    const table = readTable(img).partitiontable;
    expect(table.label).toBe("dos");
    expect(table.partitions.map((p) => [p.start, p.size, p.type])).toEqual(
      layout.partitions.map((p) => [(p.startMiB * MiB) / SECTOR, (p.sizeMiB * MiB) / SECTOR, p.type]),
    );
    expect(table.partitions[0]?.bootable).toBe(true);
    // The image ends where the data partition does: first boot grows it to the card.
    const last = table.partitions.at(-1);
    expect(((last?.start ?? 0) + (last?.size ?? 0)) * SECTOR).toBe(statSync(img).size);
  });
});

interface BuildInfo {
  board: Board;
  version: string;
  kernel: string;
  layout: Layout;
}

const OUT = join(import.meta.dir, "out");
const built = existsSync(OUT)
  ? readdirSync(OUT)
      .filter((f) => f.endsWith(".build.json") && existsSync(join(OUT, f.replace(/\.build\.json$/, ".img"))))
      .map((f) => ({
        image: join(OUT, f.replace(/\.build\.json$/, ".img")),
        info: JSON.parse(readFileSync(join(OUT, f), "utf8")) as BuildInfo,
      }))
  : [];

for (const { image, info } of built) {
  describe(`built image ${image.split("/").at(-1)}`, () => {
    const offsetOf = (label: string) => {
      const p = info.layout.partitions.find((x) => x.label === label);
      if (!p) throw new Error(`no ${label} in the plan`);
      return p.startMiB * MiB;
    };
    const root = () => `${image}?offset=${offsetOf(LABELS.rootA)}`;
    const fat = () => `${image}@@${offsetOf(LABELS.boot)}`;

    test("partition table and file system labels are the plan's", () => {
      const parts = readTable(image).partitiontable.partitions;
      expect(parts.map((p) => p.start * SECTOR)).toEqual(info.layout.partitions.map((p) => p.startMiB * MiB));
      for (const p of info.layout.partitions) {
        if (!p.format) continue;
        const probe = sh(["blkid", "-p", "-O", String(p.startMiB * MiB), "-o", "export", image]);
        expect(probe).toContain(`LABEL=${p.label}`);
        expect(probe).toContain(`TYPE=${p.format}`);
      }
    });

    test("checksum file and Imager manifest describe this image", () => {
      const name = image.split("/").at(-1) as string;
      const [sha, file] = readFileSync(`${image}.sha256`, "utf8").trim().split(/\s+/);
      expect(file).toBe(name);
      expect(sha).toMatch(/^[0-9a-f]{64}$/);
      const entry = JSON.parse(readFileSync(image.replace(/\.img$/, ".json"), "utf8")).os_list[0];
      expect(entry).toMatchObject({ url: name, extract_sha256: sha, extract_size: statSync(image).size });
    });

    test("boot partition holds what the board boots from", () => {
      const listing = sh(["mdir", "-b", "-i", fat(), "::/"]);
      for (const f of requiredBootFiles(info.board, { kernelVersion: info.kernel }))
        expect(listing.toLowerCase()).toContain(`::/${f.toLowerCase()}`);
      if (info.board === "rpi") {
        expect(sh(["mtype", "-i", fat(), "::config.txt"])).toBe(
          renderConfigTxt({ kernelVersion: info.kernel }),
        );
        expect(sh(["mtype", "-i", fat(), "::cmdline.txt"])).toBe(renderCmdlineTxt());
      }
    });

    test("root holds the runtime behind /opt/kiana/current, the fstab and enabled units, no host keys", () => {
      const cat = (path: string) => sh(["debugfs", "-R", `cat ${path}`, root()]);
      const ls = (dir: string) => sh(["debugfs", "-R", `ls -p ${dir}`, root()]);
      expect(sh(["debugfs", "-R", "stat /opt/kiana/current", root()])).toContain(
        `Fast link dest: "${info.version}"`,
      );
      expect(ls(`/opt/kiana/${info.version}`)).toContain("/kiana/");
      expect(cat("/etc/fstab")).toBe(renderFstab());
      expect(ls("/etc/systemd/system/multi-user.target.wants")).toContain("/kiana.service/");
      expect(ls("/etc/ssh")).not.toContain("ssh_host_");
      expect(cat("/etc/machine-id")).toBe("");
      expect(cat("/etc/passwd")).toMatch(/^kiana:/m);
      expect(ls("/boot")).toContain(`/initrd.img-${info.kernel}/`);
      // `kiana-hw-test` on the board runs the hardware checks with the kiana binary as Bun.
      expect(ls("/usr/lib/kiana-image/hw-tests")).toContain("/run.ts/");
      expect(sh(["debugfs", "-R", "stat /usr/local/sbin/kiana-hw-test", root()])).toContain(
        'Fast link dest: "/usr/lib/kiana-image/hw-tests/run"',
      );
    });
  });
}
