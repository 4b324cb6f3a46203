// A throwaway containerd + runc: its own config, directories and socket under a temp dir, the
// test images imported, started and stopped by pid, restartable, and removed without a trace
// (processes, mounts, cgroups, shim sockets, files), even after a failed test; a sandbox whose
// test process was killed is removed by the next one.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { findCgroupTrees, removeCgroupTree } from './cgroups.js';
import { formatContainerdConfig, planContainerdLayout, type ContainerdLayout } from './containerd-config.js';
import { listMountsUnder, unmountAllUnder } from './mounts.js';
import { endProcesses, findDescendants, isRunning, killProcesses, listProcesses, type ProcessInfo } from './processes.js';
import { importImages, pauseImage, writeTestImages } from '../images/test-images.js';
import type { PodSpec } from '../../helpers/cri-test-client.js';

/** containerd 1.6 puts shim sockets here whatever its state directory says. */
const shimSocketDir = '/run/containerd/s';
/**
 * Created for the shim sockets; removed again once empty (containerd recreates them on demand,
 * and with sandboxes in parallel the last one out removes them).
 */
const shimSocketParents = [shimSocketDir, '/run/containerd'];
const readyLine = 'msg="Start streaming server"';
const startTimeoutMs = 15_000;

export interface ContainerdSandbox {
  readonly dir: string;
  readonly socket: string;
  /** The running containerd's pid (changes on restart). */
  readonly pid: number;
  /** Milliseconds from spawn to CRI ready, of the latest start. */
  readonly startMs: number;
  /**
   * The cgroup root of this sandbox's pods (kubelet's --cgroup-root), so they never mix with a
   * real kubelet's `/kubepods` or another sandbox's, and cleaning up removes exactly them.
   */
  readonly cgroupRoot: string;
  /** A pod of this sandbox: a fresh kubelet-like uid, under the sandbox's cgroup root. */
  newPod(pod: Omit<PodSpec, 'uid' | 'cgroupRoot'>): PodSpec;
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
  for (const dir of shimSocketParents) await rmdir(dir).catch(() => undefined);
}

const sandboxPrefix = 'cri-rebalancer-containerd-';
/** Holds the pid of the process that owns the sandbox. */
const ownerFile = 'owner.pid';
/** A directory this young without an owner file may be a sandbox being set up right now. */
const settingUpMs = 60_000;

/** Processes started for the sandbox: containerd, its shims, a daemon in front of it (each names a path in it). */
function findSandboxProcesses(dir: string): ProcessInfo[] {
  return listProcesses().filter((info) => info.args.some((arg) => arg.startsWith(`${dir}/`)));
}

/** Everything a sandbox leaves on the machine, removed: containerd, shims, containers, cgroups, mounts, files. */
async function removeSandboxRemains(dir: string): Promise<void> {
  const layout = planContainerdLayout(dir);
  const others = findSandboxProcesses(dir).filter((info) => argAfter(info.args, '-address') !== layout.socket);
  await endProcesses(
    others.map((info) => info.pid),
    10_000,
  );
  await removeShims(layout.socket);
  await removeCgroupTree(`/${basename(dir)}`);
  await unmountAllUnder(dir);
  await rm(dir, { recursive: true, force: true });
}

/**
 * Removes sandboxes whose owner died without cleaning up (a test process killed by a timeout),
 * so one crash never leaves containers running for the next run to trip over.
 */
async function removeAbandonedSandboxes(): Promise<void> {
  for (const name of await readdir(tmpdir())) {
    if (!name.startsWith(sandboxPrefix)) continue;
    const dir = join(tmpdir(), name);
    const owner = await readFile(join(dir, ownerFile), 'utf8').catch(() => null);
    const abandoned =
      owner === null ? Date.now() - (await stat(dir)).mtimeMs > settingUpMs : !isRunning(Number(owner));
    if (abandoned) await removeSandboxRemains(dir);
  }
}

export async function startContainerdSandbox(options: SandboxOptions): Promise<ContainerdSandbox> {
  await removeAbandonedSandboxes();
  const dir = await mkdtemp(join(tmpdir(), sandboxPrefix));
  await writeFile(join(dir, ownerFile), String(process.pid));
  const layout = planContainerdLayout(dir);
  const cgroupRoot = `/${basename(dir)}`;
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
    cgroupRoot,
    newPod(pod) {
      return { ...pod, uid: randomUUID(), cgroupRoot };
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
      await removeSandboxRemains(dir);
    },
    async findLeftovers() {
      const processes = findSandboxProcesses(dir);
      return [
        ...processes.map((info) => `process ${info.pid}: ${info.args.join(' ')}`),
        ...(await listMountsUnder(dir)).map((point) => `mount ${point}`),
        ...findCgroupTrees(cgroupRoot).map((cgroup) => `cgroup ${cgroup}`),
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
