// Where the checkpoint lives: the one piece of state/ that touches the filesystem. A write is
// atomic: a temp file in the same directory, fsync, rename over the old file, so a crash at any
// moment leaves either the old checkpoint or the new one, never a torn one.
// No directory fsync (it is on the path of every create): it would only make the newest rename
// survive a power loss, and a power loss also ends every container, so the checkpoint before it
// is just as good: reconcile at start releases what exited and adopts what runs. A crash of the
// daemon alone keeps every rename (the kernel has it).
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';

export interface CheckpointFile {
  /** Shown in every message about the checkpoint. */
  readonly path: string;
  /** The text, or null when there is no checkpoint yet. */
  read(): Promise<string | null>;
  write(text: string): Promise<void>;
}

export const checkpointFileName = 'state.json';

let tempSequence = 0;

export function openCheckpointFile(dir: string, name = checkpointFileName): CheckpointFile {
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
      const temp = join(dir, `.${name}.${process.pid}.${++tempSequence}.tmp`);
      try {
        const file = await open(temp, 'wx', 0o600);
        try {
          await file.writeFile(text, 'utf8');
          await file.sync();
        } finally {
          await file.close();
        }
        await rename(temp, path);
      } catch (error) {
        await unlink(temp).catch(() => undefined);
        throw error;
      }
    },
  };
}
