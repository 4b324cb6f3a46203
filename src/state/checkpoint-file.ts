// Where the checkpoint lives: the one piece of state/ that touches the filesystem. A write is
// atomic: a temp file in the same directory, flushed to disk, renamed over the old file, so a
// crash at any moment leaves either the old checkpoint or the new one, never a torn one. The
// addon keeps one temp file, `.NAME.spare`, and swaps it with the checkpoint at each write, so
// after a write it holds the checkpoint before (see native/durable_file.h for why); its writes
// pad the file with spaces, which JSON ignores and `read` drops.
// No directory fsync (it is on the path of every create): it would only make the newest rename
// survive a power loss, and a power loss also ends every container, so the checkpoint before it
// is just as good: reconcile at start releases what exited and adopts what runs. A crash of the
// daemon alone keeps every rename (the kernel has it).
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { loadAddon, type NativeAddon } from '../monitor/addon.js';

export interface CheckpointFile {
  /** Shown in every message about the checkpoint. */
  readonly path: string;
  /** The text, or null when there is no checkpoint yet. */
  read(): Promise<string | null>;
  write(text: string): Promise<void>;
}

/** Makes `bytes` the content of `path` through a temp file, flushed, then renamed; a failure leaves `path` as it was. */
export type ReplaceFile = (path: string, bytes: Buffer, mode: number) => Promise<void>;

export interface FileReplacer {
  readonly replace: ReplaceFile;
  /** Why the native replacer is not used; absent when it is. */
  readonly fallbackReason?: string;
}

let tempSequence = 0;

/**
 * node:fs, step by step, with a new temp file each time: each step is a trip through the thread
 * pool, which on a busy node costs more than the flush itself (measured: about 2.5 ms a write in
 * front of containerd, against about 1 ms for the addon's one trip).
 */
export const replaceFileStepwise: ReplaceFile = async (path, bytes, mode) => {
  const tempPath = join(dirname(path), `.${basename(path)}.${process.pid}.${++tempSequence}.tmp`);
  try {
    const file = await open(tempPath, 'wx', mode);
    try {
      await file.writeFile(bytes);
      await file.datasync();
    } finally {
      await file.close();
    }
    await rename(tempPath, path);
  } catch (error) {
    await unlink(tempPath).catch(() => undefined);
    throw error;
  }
};

/** A temp file of replaceFileStepwise, with its writer's pid. */
const stepwiseTempFile = /^\..+\.(\d+)\.\d+\.tmp$/u;

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the temp files node:fs writes left in `dir` when their writer died between creating and
 * renaming one (a running writer's are kept); returns their names. A directory that cannot be
 * read has none to remove: reading the checkpoint reports why.
 */
export async function removeStaleTempFiles(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => []);
  const stale = names.filter((name) => {
    const match = stepwiseTempFile.exec(name);
    return match !== null && !isRunning(Number(match[1]));
  });
  await Promise.all(stale.map((name) => unlink(join(dir, name)).catch(() => undefined)));
  return stale;
}

/** The temp file the addon keeps beside `path`, holding the content before the last write. */
export function sparePathOf(path: string): string {
  return join(dirname(path), `.${basename(path)}.spare`);
}

/** The addon's replace: one trip, through the spare. */
export function replaceThroughSpare(addon: Pick<NativeAddon, 'replaceFileDurably'>): ReplaceFile {
  return (path, bytes, mode) => addon.replaceFileDurably(path, sparePathOf(path), bytes, mode);
}

/** The addon's one-trip replace when it loads; node:fs step by step (and the reason) when not. */
export function chooseFileReplacer(): FileReplacer {
  try {
    return { replace: replaceThroughSpare(loadAddon()) };
  } catch (error) {
    return { replace: replaceFileStepwise, fallbackReason: (error as Error).message };
  }
}

export const checkpointFileName = 'state.json';
export const historyFileName = 'history.json';

/** The text as written: without the spaces the addon pads the file with. */
function withoutPadding(text: string): string {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 0x20) end--;
  return end === text.length ? text : text.slice(0, end);
}

export function openCheckpointFile(dir: string, name = checkpointFileName, replace: ReplaceFile = chooseFileReplacer().replace): CheckpointFile {
  const path = join(dir, name);
  let created: Promise<unknown> | null = null;
  return {
    path,
    async read() {
      try {
        return withoutPadding(await readFile(path, 'utf8'));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw error;
      }
    },
    async write(text) {
      // Once: a write is on the path of every create.
      created ??= mkdir(dir, { recursive: true, mode: 0o700 }).catch((error: unknown) => {
        created = null;
        throw error;
      });
      await created;
      await replace(path, Buffer.from(text, 'utf8'), 0o600);
    },
  };
}
