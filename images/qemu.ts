// Boots a generic-arm64 image under qemu-system-aarch64 (-M virt, cortex-a72, user-mode networking
// with the admin port forwarded to 127.0.0.1) and watches its serial console.
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readTable, sh } from "./assemble.ts";
import { kernelCmdline, LABELS, SECTOR } from "./plan.ts";

export interface PartitionAt {
  offset: number;
  bytes: number;
}

/** Byte offset and size of partition `n` (1-based) of an image, from its partition table. */
export function partitionAt(image: string, n: number): PartitionAt {
  const p = readTable(image).partitiontable.partitions[n - 1];
  if (!p) throw new Error(`${image} has no partition ${n}`);
  return { offset: p.start * SECTOR, bytes: p.size * SECTOR };
}

/** An ext4 partition of an image as e2fsprogs names it (no loop device: `image?offset=N`). */
export const ext4At = (image: string, p: PartitionAt) => `${image}?offset=${p.offset}`;

/** Copies the newest kernel and its initramfs out of the image's root file system. */
export function extractKernel(
  image: string,
  dir: string,
): { kernel: string; initrd: string; version: string } {
  const root = ext4At(image, partitionAt(image, 2));
  const listing = sh(["debugfs", "-R", "ls -p /boot", root]);
  const versions = [...listing.matchAll(/\/vmlinuz-([^/]+)\//g)].map((m) => m[1] as string).sort();
  const version = versions.at(-1);
  if (!version) throw new Error(`no /boot/vmlinuz-* in ${image}'s root partition`);
  const kernel = join(dir, `vmlinuz-${version}`);
  const initrd = join(dir, `initrd.img-${version}`);
  sh(["debugfs", "-R", `dump /boot/vmlinuz-${version} ${kernel}`, root]);
  sh(["debugfs", "-R", `dump /boot/initrd.img-${version} ${initrd}`, root]);
  return { kernel, initrd, version };
}

export interface Vm {
  /** Resolves with the first console line matching `re`; rejects on timeout or when QEMU exits. */
  waitFor(re: RegExp, timeoutMs: number): Promise<string>;
  /** SIGKILL: the power cut. */
  kill(): Promise<void>;
  exited: Promise<number>;
  consoleText(): string;
}

export interface VmOptions {
  image: string;
  kernel: string;
  initrd: string;
  /** 127.0.0.1:<port> forwards to the guest's admin port 8080. */
  adminPort: number;
  consoleLog: string;
  memoryMiB?: number;
  cpus?: number;
}

export function qemuArgs(o: VmOptions): string[] {
  return [
    "qemu-system-aarch64",
    "-M",
    "virt",
    "-cpu",
    "cortex-a72",
    "-smp",
    String(o.cpus ?? 2),
    "-m",
    String(o.memoryMiB ?? 2048),
    "-nographic",
    "-no-reboot",
    "-kernel",
    o.kernel,
    "-initrd",
    o.initrd,
    "-append",
    `${kernelCmdline("generic-arm64")} systemd.show_status=1`,
    "-drive",
    `file=${o.image},format=raw,if=virtio,cache=unsafe`,
    "-netdev",
    `user,id=n0,hostfwd=tcp:127.0.0.1:${o.adminPort}-:8080`,
    "-device",
    "virtio-net-pci,netdev=n0,romfile=",
    "-device",
    "virtio-rng-pci",
  ];
}

export function startVm(o: VmOptions): Vm {
  if (!kernelCmdline("generic-arm64").includes(`root=LABEL=${LABELS.rootA}`))
    throw new Error("the kernel command line lost its root label");
  const proc = Bun.spawn(qemuArgs(o), { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let text = "";
  const waiters: { re: RegExp; resolve: (line: string) => void }[] = [];
  const feed = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    let pending = "";
    for await (const chunk of stream) {
      const s = decoder.decode(chunk, { stream: true });
      text += s;
      appendFileSync(o.consoleLog, s);
      pending += s;
      const lines = pending.split(/\r?\n/);
      pending = lines.pop() ?? "";
      for (const line of lines)
        for (const w of [...waiters])
          if (w.re.test(line)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(line);
          }
    }
  };
  void feed(proc.stdout);
  void feed(proc.stderr);
  const exited = proc.exited;
  return {
    exited,
    consoleText: () => text,
    waitFor(re, timeoutMs) {
      const seen = text.split(/\r?\n/).find((l) => re.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const w = { re, resolve };
        waiters.push(w);
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`no console line matching ${re} within ${timeoutMs / 1000} s`));
        }, timeoutMs);
        void exited.then((code) => {
          clearTimeout(timer);
          if (waiters.includes(w)) reject(new Error(`QEMU exited (${code}) before a line matching ${re}`));
        });
        const done = w.resolve;
        w.resolve = (line) => {
          clearTimeout(timer);
          done(line);
        };
      });
    },
    async kill() {
      proc.kill("SIGKILL");
      await exited;
    },
  };
}

/** A free TCP port on 127.0.0.1 (bound and released; QEMU binds it a moment later). */
export function freePort(): number {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
}

export function scratchDir(prefix: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
