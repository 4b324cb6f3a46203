// A throwaway containerd + runc: its own config, directories and socket under a temp dir, the
// test images imported, started and stopped by pid, restartable, and removed without a trace
// (processes, mounts, cgroups, shim sockets, files), even after a failed test.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, rmdir, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { findKubepodsDirs, findPodCgroups, removePodCgroups } from './cgroups.js';
import { formatContainerdConfig, planContainerdLayout, type ContainerdLayout } from './containerd-config.js';
import { listMountsUnder, unmountAllUnder } from './mounts.js';
import { endProcesses, findDescendants, killProcesses, listProcesses } from './processes.js';
import { importImages, pauseImage, writeTestImages } from '../images/test-images.js';

/** containerd 1.6 puts shim sockets here whatever its state directory says. */
const shimSocketDir = '/run/containerd/s';
const readyLine = 'msg="Start streaming server"';
const startTimeoutMs = 15_000;

export interface ContainerdSandbox {
  readonly dir: string;
  readonly socket: string;
  /** The running containerd's pid (changes on restart). */
  readonly pid: number;
  /** Milliseconds from spawn to CRI ready, of the latest start. */
  readonly startMs: number;
  /** A kubelet-like pod uid this sandbox recognises as its own when it cleans up. */
  newPodUid(): string;
  /** Stops containerd (SIGTERM); shims and containers keep running, as in a real restart. */
  stop(): Promise<void>;
  /** Starts containerd again on the same directories; resolves once CRI is ready. */
  start(): Promise<void>;
  /** Removes everything: containerd, shims, containers, mounts, pod cgroups, the directory. */
  destroy(): Promise<void>;
  /** What of the sandbox still exists (empty after destroy). */
  findLeftovers(): Promise<string[]>;
}

export interface SandboxOptions {
  readonly repoRoot: string;
  /** Where compiled test binaries are cached between runs (default: node_modules/.cache). */
  readonly cacheDir?: string;
}

async function waitForReady(child: ChildProcess, log: string, logOffset: number): Promise<void> {
  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    const text = readFileSync(log, 'utf8').slice(logOffset);
    if (text.includes(readyLine)) return;
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      const tail = text.split('\n').slice(-15).join('\n');
      throw new Error(`containerd did not become ready (see ${log}):\n${tail}`);
    }
    await sleep(5);
  }
}

function spawnContainerd(layout: ContainerdLayout): ChildProcess {
  const logFd = openSync(layout.log, 'a');
  try {
    return spawn('containerd', ['--config', layout.config], { stdio: ['ignore', logFd, logFd] });
  } finally {
    closeSync(logFd);
  }
}

/** The shim socket name containerd 1.6 derives from its address, namespace and task id. */
function shimSocketPath(address: string, namespace: string, id: string): string {
  return join(shimSocketDir, createHash('sha256').update(join(address, namespace, id)).digest('hex'));
}

function argAfter(args: readonly string[], flag: string): string | undefined {
  const index = args.indexOf(flag);
  return index === -1 ? undefined : args[index + 1];
}

/** Shims serving this sandbox (they name its socket on their command line) and their children. */
async function removeShims(socket: string): Promise<void> {
  const processes = listProcesses();
  const shims = processes.filter((info) => argAfter(info.args, '-address') === socket);
  await killProcesses(findDescendants(processes, shims.map((info) => info.pid)));
  await killProcesses(shims.map((info) => info.pid));
  for (const shim of shims) {
    const id = argAfter(shim.args, '-id');
    const namespace = argAfter(shim.args, '-namespace');
    if (id === undefined || namespace === undefined) continue;
    await unlink(shimSocketPath(socket, namespace, id)).catch(() => undefined);
  }
  await rmdir(shimSocketDir).catch(() => undefined);
  await rmdir('/run/containerd').catch(() => undefined);
}

export async function startContainerdSandbox(options: SandboxOptions): Promise<ContainerdSandbox> {
  const dir = await mkdtemp(join(tmpdir(), 'cri-rebalancer-containerd-'));
  const layout = planContainerdLayout(dir);
  const uidPrefix = randomBytes(4).toString('hex');
  const kubepodsBefore = findKubepodsDirs();
  let child: ChildProcess | null = null;
  let startMs = 0;

  const sandbox: ContainerdSandbox = {
    dir,
    socket: layout.socket,
    get pid() {
      if (child?.pid === undefined) throw new Error('containerd is not running');
      return child.pid;
    },
    get startMs() {
      return startMs;
    },
    newPodUid() {
      const hex = randomBytes(12).toString('hex');
      return `${uidPrefix}-${hex.slice(0, 4)}-4${hex.slice(4, 7)}-8${hex.slice(7, 10)}-${hex.slice(10, 22)}`;
    },
    async stop() {
      if (child === null) return;
      const pid = child.pid;
      child = null;
      if (pid !== undefined) await endProcesses([pid], 10_000);
    },
    async start() {
      if (child !== null) throw new Error('containerd is already running');
      const logOffset = existsSync(layout.log) ? (await readFile(layout.log, 'utf8')).length : 0;
      const began = performance.now();
      child = spawnContainerd(layout);
      try {
        await waitForReady(child, layout.log, logOffset);
      } catch (error) {
        await sandbox.stop();
        throw error;
      }
      startMs = performance.now() - began;
    },
    async destroy() {
      await sandbox.stop();
      await removeShims(layout.socket);
      await removePodCgroups(uidPrefix, kubepodsBefore);
      await unmountAllUnder(dir);
      await rm(dir, { recursive: true, force: true });
    },
    async findLeftovers() {
      const processes = listProcesses().filter((info) => info.args.includes(layout.socket));
      return [
        ...processes.map((info) => `process ${info.pid}: ${info.args.join(' ')}`),
        ...(await listMountsUnder(dir)).map((point) => `mount ${point}`),
        ...findPodCgroups(uidPrefix).map((cgroup) => `cgroup ${cgroup}`),
        ...(existsSync(dir) ? [`directory ${dir}`] : []),
      ];
    },
  };

  try {
    await mkdir(layout.root, { recursive: true });
    await writeFile(layout.config, formatContainerdConfig(layout, pauseImage));
    const cacheDir = options.cacheDir ?? join(options.repoRoot, 'node_modules', '.cache', 'cri-rebalancer-test');
    const images = await writeTestImages(options.repoRoot, cacheDir, dir);
    await sandbox.start();
    await importImages(layout.socket, images);
    await Promise.all(images.map((image) => rm(image)));
  } catch (error) {
    await sandbox.destroy();
    throw error;
  }
  return sandbox;
}
