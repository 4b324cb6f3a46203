// Guest-only cgroup v2 plumbing for the migration checks: a cpuset+memory cgroup per check, a
// process started inside it (it joins before exec, so its first page is already constrained),
// and cleanup that ends the process and removes the cgroup.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

const cgroupRoot = '/sys/fs/cgroup';

export function enableCpusetAndMemory(): void {
  writeFileSync(`${cgroupRoot}/cgroup.subtree_control`, '+cpuset +memory');
}

export function createCgroup(name: string, cpus: string, mems: string): string {
  const dir = `${cgroupRoot}/${name}`;
  mkdirSync(dir);
  writeFileSync(`${dir}/cpuset.cpus`, cpus);
  writeFileSync(`${dir}/cpuset.mems`, mems);
  return dir;
}

export function writeCgroupFile(dir: string, file: string, value: string): void {
  writeFileSync(`${dir}/${file}`, value);
}

/** Starts a command as a member of the cgroup from its first instruction. */
export function spawnInCgroup(dir: string, command: string, args: readonly string[]): ChildProcessWithoutNullStreams {
  return spawn('/bin/sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', dir, command, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Resolves with the child's next stdout line (rejects if it exits first). */
export function createLineReader(child: ChildProcessWithoutNullStreams): () => Promise<string> {
  const lines = createInterface({ input: child.stdout });
  const queue: string[] = [];
  const waiters: ((line: string | null) => void)[] = [];
  lines.on('line', (line) => (waiters.length > 0 ? waiters.shift()?.(line) : queue.push(line)));
  lines.on('close', () => waiters.splice(0).forEach((waiter) => waiter(null)));
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return async () => {
    const line = queue.shift() ?? (await new Promise<string | null>((resolve) => waiters.push(resolve)));
    if (line === null) throw new Error(`child ${child.pid} exited before answering: ${stderr}`);
    return line;
  };
}

/** Ends the child (by its pid) and removes the cgroup once it is empty. */
export async function removeCgroup(dir: string, child: ChildProcessWithoutNullStreams | null): Promise<void> {
  if (child !== null && child.exitCode === null && child.signalCode === null) {
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }
  for (let attempt = 0; attempt < 50; attempt += 1) {
    if (readFileSync(`${dir}/cgroup.procs`, 'utf8').trim() === '') break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  rmdirSync(dir);
}
