// What the native integration tests set up on the real kernel and take down again: busy child
// processes, and cgroup directories (cgroup2 on the unified mount, v1 memory and cpuset).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { findCgroup2Root } from '../../src/monitor/capabilities.js';
import { addonStatus } from '../../src/monitor/addon.js';

/** Why the native tests cannot run here, or undefined when they can. */
export function nativeSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (perf per cgroup, eBPF, cgroup directories)';
  const status = addonStatus();
  return status.loaded ? undefined : status.error;
}

/** A process that spins on a CPU until killed. */
export function spawnBusy(): ChildProcess {
  return spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' });
}

/** A node process holding `mebibytes` of touched anonymous memory; resolves once it is touched. */
export async function spawnMemoryHolder(mebibytes: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', `const b = Buffer.alloc(${mebibytes} << 20, 1); process.stdout.write('ready\\n'); setInterval(() => b[0]++, 1000);`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await once(child.stdout as NodeJS.ReadableStream, 'data');
  return child;
}

export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

/** A cgroup directory that exists until remove(); its tasks must have exited by then. */
export class TestCgroup {
  private constructor(readonly dir: string) {}

  static create(hierarchyRoot: string, settings: Record<string, string> = {}): TestCgroup {
    const dir = join(hierarchyRoot, `cri-rebalancer-native-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
    mkdirSync(dir);
    const cgroup = new TestCgroup(dir);
    for (const [file, value] of Object.entries(settings)) cgroup.write(file, value);
    return cgroup;
  }

  write(file: string, value: string): void {
    writeFileSync(join(this.dir, file), value);
  }

  add(pid: number): void {
    this.write('cgroup.procs', String(pid));
  }

  /** rmdir, retried while the kernel still counts an exiting task. */
  async remove(): Promise<void> {
    for (let attempt = 0; existsSync(this.dir); attempt++) {
      try {
        rmdirSync(this.dir);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EBUSY' || attempt > 100) throw error;
        await sleep(20);
      }
    }
  }
}

export function cgroup2Root(): string | undefined {
  return findCgroup2Root();
}

/** The v1 hierarchy of a controller, when this host mounts it as v1. */
export function v1Hierarchy(controller: string): string | undefined {
  const dir = join('/sys/fs/cgroup', controller);
  return existsSync(join(dir, 'tasks')) ? dir : undefined;
}

export function readRootCpuset(): { cpus: string; mems: string } {
  const dir = v1Hierarchy('cpuset') as string;
  return {
    cpus: readFileSync(join(dir, 'cpuset.cpus'), 'utf8').trim(),
    mems: readFileSync(join(dir, 'cpuset.mems'), 'utf8').trim(),
  };
}
