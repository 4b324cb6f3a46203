// One daemon per state directory: two would each place containers on CPUs the other has given
// away, and write one checkpoint over the other's. The daemon takes an exclusive lock on a file
// there before it reads the checkpoint and holds it until it stops; the kernel drops it when the
// daemon dies, so a restart after a crash never finds it taken.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { loadAddon, type NativeAddon } from '../monitor/addon.js';

const lockFileName = 'lock';

type LockingAddon = Pick<NativeAddon, 'lockFileExclusive' | 'unlockFile'>;

export type StateDirLock =
  | {
      readonly ok: true;
      /** Gives the directory up (idempotent). */
      release(): void;
      /** Why the directory is not locked (the addon did not load); absent when it is. */
      readonly unlockedReason?: string;
    }
  | { readonly ok: false; readonly message: string };

/** Creates `dir` when missing and takes its lock; fails when another process holds it. */
export async function lockStateDir(dir: string, addon: () => LockingAddon = loadAddon): Promise<StateDirLock> {
  let locking: LockingAddon;
  try {
    locking = addon();
  } catch (error) {
    return { ok: true, release: () => undefined, unlockedReason: (error as Error).message };
  }
  const path = join(dir, lockFileName);
  let fd: number;
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    fd = locking.lockFileExclusive(path);
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & { holder?: string };
    if (failure.code === 'EAGAIN') {
      const holder = failure.holder?.trim() || 'unknown';
      return {
        ok: false,
        message: `another process (pid ${holder}) holds the state directory ${dir}: two daemons on one state directory would give the same CPUs twice; stop that one, or give this one its own --state-dir`,
      };
    }
    return { ok: false, message: `cannot lock the state directory ${dir} (${path}): ${failure.message}` };
  }
  let held = true;
  return {
    ok: true,
    release: () => {
      if (!held) return;
      held = false;
      locking.unlockFile(fd);
    },
  };
}
