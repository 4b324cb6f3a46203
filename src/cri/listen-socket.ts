// Preparing a unix socket path to listen on: the directory exists (0750 when created), a stale
// socket file left by a dead process is removed, and a live one is never taken over.
import { lstat, mkdir, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname } from 'node:path';

export type SocketPathState = 'free' | 'stale' | 'live' | 'not-a-socket';

/** Whether something accepts connections on `path` (a socket file alone proves nothing). */
export function probeSocket(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    const done = (live: boolean): void => {
      socket.destroy();
      resolve(live);
    };
    socket.setTimeout(timeoutMs, () => done(true));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export async function inspectSocketPath(path: string): Promise<SocketPathState> {
  try {
    const stats = await lstat(path);
    if (!stats.isSocket()) return 'not-a-socket';
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'free';
    throw error;
  }
  return (await probeSocket(path)) ? 'live' : 'stale';
}

/** Makes `path` ready for listen(); returns the state found, for the caller's message. */
export async function prepareSocketPath(path: string): Promise<SocketPathState> {
  await mkdir(dirname(path), { recursive: true, mode: 0o750 });
  const state = await inspectSocketPath(path);
  if (state === 'stale') await unlink(path);
  return state;
}
