// Processes the harness started, found and ended by pid: never by name.
import { readFileSync, readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ProcessInfo {
  readonly pid: number;
  readonly parentPid: number;
  readonly args: readonly string[];
}

function readProcess(pid: number): ProcessInfo | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: fields follow the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((arg) => arg !== '');
    return { pid, parentPid: Number(fields[1]), args };
  } catch {
    return null;
  }
}

export function listProcesses(): ProcessInfo[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/u.test(name))
    .map((name) => readProcess(Number(name)))
    .filter((info): info is ProcessInfo => info !== null);
}

/** Every descendant of the given processes (not the processes themselves). */
export function findDescendants(processes: readonly ProcessInfo[], roots: readonly number[]): number[] {
  const found: number[] = [];
  let frontier = new Set(roots);
  while (frontier.size > 0) {
    const children = processes.filter((info) => frontier.has(info.parentPid)).map((info) => info.pid);
    found.push(...children);
    frontier = new Set(children);
  }
  return found;
}

/** Alive and not a zombie. */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export async function waitForExit(pids: readonly number[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(isRunning)) {
    if (Date.now() > deadline) return false;
    await sleep(10);
  }
  return true;
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once every one has exited. */
export async function endProcesses(pids: readonly number[], graceMs: number): Promise<void> {
  for (const pid of pids) signal(pid, 'SIGTERM');
  if (await waitForExit(pids, graceMs)) return;
  for (const pid of pids) signal(pid, 'SIGKILL');
  if (!(await waitForExit(pids, 5000))) throw new Error(`processes ${pids.join(', ')} survived SIGKILL`);
}

export async function killProcesses(pids: readonly number[]): Promise<void> {
  await endProcesses(pids, 0);
}
