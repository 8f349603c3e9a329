// File moves for firstboot that survive a power cut: every file is first written beside its target
// and fsynced (stage), then all are renamed into place (commit), so a crash leaves each target
// either old or new, and a rerun simply stages and commits again. Also: owners from the target
// root's /etc/passwd, and wiping secrets from the FAT boot partition.
import {
  chownSync,
  closeSync,
  existsSync,
  fchmodSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";

export interface StagedFile {
  /** Absolute path of the target. */
  path: string;
  text: string;
  mode: number;
  symlink?: boolean;
  owner?: Owner;
  /** Owner of directories this creates (e.g. ~/.ssh); default root. */
  dirOwner?: Owner;
  dirMode?: number;
}

export interface Owner {
  uid: number;
  gid: number;
}

const STAGE_SUFFIX = ".kiana-stage";

function fsyncPath(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function ensureDir(dir: string, mode: number, owner: Owner | undefined, canChown: boolean): void {
  if (existsSync(dir)) return;
  ensureDir(dirname(dir), 0o755, undefined, canChown);
  mkdirSync(dir, { mode });
  if (owner && canChown) chownSync(dir, owner.uid, owner.gid);
}

/** Writes every file to `<path>.kiana-stage`, fsynced, with its mode and owner; nothing is replaced yet. */
export function stageFiles(files: readonly StagedFile[], canChown: boolean): void {
  for (const f of files) {
    ensureDir(dirname(f.path), f.dirMode ?? 0o755, f.dirOwner, canChown);
    const tmp = f.path + STAGE_SUFFIX;
    rmSync(tmp, { force: true });
    if (f.symlink) {
      symlinkSync(f.text, tmp);
      continue;
    }
    const fd = openSync(tmp, "w", f.mode);
    try {
      fchmodSync(fd, f.mode);
      writeSync(fd, f.text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (f.owner && canChown) chownSync(tmp, f.owner.uid, f.owner.gid);
  }
}

/** Renames every staged file over its target, then fsyncs the directories so the renames last. */
export function commitFiles(files: readonly StagedFile[]): void {
  const dirs = new Set<string>();
  for (const f of files) {
    renameSync(f.path + STAGE_SUFFIX, f.path);
    dirs.add(dirname(f.path));
  }
  for (const d of dirs) fsyncPath(d);
}

/** uid/gid of a user in the target root's passwd, or undefined when it has none by that name. */
export function lookupUser(root: string, name: string): (Owner & { home: string }) | undefined {
  const passwd = readOr(`${root}/etc/passwd`, "");
  for (const line of passwd.split("\n")) {
    const [user, , uid, gid, , home] = line.split(":");
    if (user === name && uid && gid) return { uid: Number(uid), gid: Number(gid), home: home ?? "" };
  }
  return undefined;
}

export function groupExists(root: string, name: string): boolean {
  return readOr(`${root}/etc/group`, "")
    .split("\n")
    .some((l) => l.split(":")[0] === name);
}

export function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return fallback;
  }
}

/** chown -R, for the data files firstboot wrote as root that the service user must own. */
export function chownTree(path: string, owner: Owner): void {
  if (!existsSync(path)) return;
  const st = lstatSync(path);
  if (st.isDirectory()) for (const e of readdirSync(path)) chownTree(`${path}/${e}`, owner);
  chownSync(path, owner.uid, owner.gid);
}

/**
 * Removes a seed file from the FAT partition. A secret one is first overwritten with zeros in place
 * and fsynced: a plain unlink on FAT only marks the clusters free, leaving the key readable.
 */
export function wipeFile(path: string, secret: boolean): void {
  if (!existsSync(path)) return;
  if (secret) {
    const size = statSync(path).size;
    const fd = openSync(path, "r+");
    try {
      writeSync(fd, Buffer.alloc(size), 0, size, 0);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
  unlinkSync(path);
  fsyncPath(dirname(path));
}

/** True for a file that is only zero bytes: a wipe that lost power before its unlink. */
export function isWiped(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes.every((b) => b === 0);
}
