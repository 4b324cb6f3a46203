// Where the checkpoint lives: the one piece of state/ that touches the filesystem. A write is
// atomic: a temp file in the same directory, flushed to disk, renamed over the old file, so a
// crash at any moment leaves either the old checkpoint or the new one, never a torn one.
// No directory fsync (it is on the path of every create): it would only make the newest rename
// survive a power loss, and a power loss also ends every container, so the checkpoint before it
// is just as good: reconcile at start releases what exited and adopts what runs. A crash of the
// daemon alone keeps every rename (the kernel has it).
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { loadAddon } from '../monitor/addon.js';

export interface CheckpointFile {
  /** Shown in every message about the checkpoint. */
  readonly path: string;
  /** The text, or null when there is no checkpoint yet. */
  read(): Promise<string | null>;
  write(text: string): Promise<void>;
}

/** Writes `bytes` to the new `tempPath`, flushes it, renames it over `path`; no temp file survives a failure. */
export type ReplaceFile = (path: string, tempPath: string, bytes: Buffer, mode: number) => Promise<void>;

export interface FileReplacer {
  readonly replace: ReplaceFile;
  /** Why the native replacer is not used; absent when it is. */
  readonly fallbackReason?: string;
}

/**
 * node:fs, step by step: each step is a trip through the thread pool, which on a busy node costs
 * more than the flush itself (measured: about 2.5 ms a write in front of containerd, against
 * about 1 ms for the addon's one trip).
 */
export const replaceFileStepwise: ReplaceFile = async (path, tempPath, bytes, mode) => {
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

/** The addon's one-trip replace when it loads; node:fs step by step (and the reason) when not. */
export function chooseFileReplacer(): FileReplacer {
  try {
    const addon = loadAddon();
    return { replace: (path, tempPath, bytes, mode) => addon.replaceFileDurably(path, tempPath, bytes, mode) };
  } catch (error) {
    return { replace: replaceFileStepwise, fallbackReason: (error as Error).message };
  }
}

export const checkpointFileName = 'state.json';
export const historyFileName = 'history.json';

let tempSequence = 0;

export function openCheckpointFile(dir: string, name = checkpointFileName, replace: ReplaceFile = chooseFileReplacer().replace): CheckpointFile {
  const path = join(dir, name);
  let created: Promise<unknown> | null = null;
  return {
    path,
    async read() {
      try {
        return await readFile(path, 'utf8');
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
      await replace(path, join(dir, `.${name}.${process.pid}.${++tempSequence}.tmp`), Buffer.from(text, 'utf8'), 0o600);
    },
  };
}
