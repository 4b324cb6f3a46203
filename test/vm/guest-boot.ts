// Boots the test guest under QEMU (TCG: these hosts have no KVM) and waits for it to power off.
// The serial console streams to a callback line by line; a guest that runs past its time limit
// is killed by QEMU's pid and reported as timed out.
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import type { GuestImage } from './guest-image.js';
import { formatQemuNumaArgs, type GuestLayout } from './guest-layout.js';

export interface GuestShare {
  readonly tag: string;
  readonly hostPath: string;
  readonly readonly: boolean;
}

export interface BootOptions {
  readonly image: GuestImage;
  readonly layout: GuestLayout;
  readonly shares: readonly GuestShare[];
  readonly timeoutMs: number;
  readonly onConsoleLine: (line: string) => void;
  /** Called with QEMU's pid once it started (its threads' host scheduling can be read). */
  readonly onStarted?: (pid: number) => void;
}

export interface BootOutcome {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  /** QEMU start to the init script's first line, as the host saw it; null if it never came. */
  readonly bootMs: number | null;
  readonly wallMs: number;
}

const initStartedMarker = 'vm-init: started';

/**
 * The guest measures call latencies, and on a busy 2-core host an unprioritised vCPU thread
 * stalls for hundreds of milliseconds. QEMU runs at nice -10 in a session of its own (spawned
 * detached), and where the kernel groups sessions (autogroup) that session gets nice -10 too:
 * a thread's nice only counts inside its autogroup. Without root both quietly stay at 0.
 */
const qemuNice = -10;

function prioritiseSession(pid: number | undefined): void {
  if (pid === undefined || !existsSync('/proc/sys/kernel/sched_autogroup_enabled')) return;
  try {
    writeFileSync(`/proc/${pid}/autogroup`, `${qemuNice}`);
  } catch {
    // Not root: the suite still runs, with noisier latencies.
  }
}

export function formatQemuArgs(options: Pick<BootOptions, 'image' | 'layout' | 'shares'>): string[] {
  const shareArgs = options.shares.flatMap((share) => [
    '-virtfs',
    `local,path=${share.hostPath},mount_tag=${share.tag},security_model=none,multidevs=remap${share.readonly ? ',readonly=on' : ''}`,
  ]);
  return [
    // debug-threads: vCPU threads named "CPU N/TCG", so the host can tell them apart.
    '-name', `${options.layout.name},debug-threads=on`,
    '-machine', 'q35', '-accel', 'tcg,thread=multi', '-cpu', 'max',
    ...formatQemuNumaArgs(options.layout),
    '-nographic', '-no-reboot', '-nic', 'none', '-vga', 'none',
    '-kernel', options.image.kernelElf, '-initrd', options.image.initramfs,
    ...shareArgs,
    // numa_balancing off: the kernel must not move pages behind the test's back.
    '-append', 'console=ttyS0 quiet panic=-1 numa_balancing=disable rdinit=/init',
  ];
}

export function bootGuest(options: BootOptions): Promise<BootOutcome> {
  const startedAt = Date.now();
  let bootMs: number | null = null;
  let timedOut = false;
  // stdin stays an open pipe: QEMU's stdio console misbehaves on /dev/null.
  const qemu = spawn('nice', ['-n', `${qemuNice}`, 'qemu-system-x86_64', ...formatQemuArgs(options)], {
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  prioritiseSession(qemu.pid);
  if (qemu.pid !== undefined) options.onStarted?.(qemu.pid);
  let pending = '';
  const onData = (chunk: Buffer): void => {
    pending += chunk.toString('utf8');
    const lines = pending.split(/\r?\n/u);
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (bootMs === null && line.includes(initStartedMarker)) bootMs = Date.now() - startedAt;
      options.onConsoleLine(line);
    }
  };
  qemu.stdout.on('data', onData);
  qemu.stderr.on('data', onData);
  const timer = setTimeout(() => {
    timedOut = true;
    qemu.kill('SIGKILL');
  }, options.timeoutMs);
  return new Promise((resolve, reject) => {
    qemu.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    qemu.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      if (pending !== '') options.onConsoleLine(pending);
      resolve({ exitCode, signal, timedOut, bootMs, wallMs: Date.now() - startedAt });
    });
  });
}
