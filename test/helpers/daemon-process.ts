// The daemon as a separate process, as an operator runs it: `cri-rebalancer run` from the
// compiled CLI, its sockets and state in a directory of the test's own, its pino JSON log read
// line by line, ended by pid (SIGTERM for a clean stop, SIGKILL for a crash), with the Node flags
// of the systemd unit.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { daemonNodeFlags } from '../../src/node-flags.js';

const run = promisify(execFile);

/**
 * The CLI beside this helper: compiled (out/src/cli.js next to out/test/helpers/) when tests run;
 * the package's own build (dist/cli.js, what `npm install` makes) when a benchmark or the demo
 * runs this helper from source, so they measure the daemon as it ships; the TypeScript source
 * through tsx only when there is no build.
 */
const compiledCliPath = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const builtCliPath = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const sourceCliPath = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
const fromSource = import.meta.url.endsWith('.ts');
const cliPath = !fromSource ? compiledCliPath : existsSync(builtCliPath) ? builtCliPath : sourceCliPath;

/** node arguments that run the CLI's `main` (this build's, or `cli`) with the given arguments. */
function formatCliArgs(args: readonly string[], cli = cliPath): string[] {
  const entry = `import { main } from ${JSON.stringify(cli)}; process.exitCode = await main(process.argv.slice(1));`;
  return [...(cli === sourceCliPath ? ['--import=tsx'] : []), '--enable-source-maps', '--input-type=module', '-e', entry, ...args];
}

/** Runs one CLI command (`status`, `explain`, ...) to completion. */
export async function runCli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, formatCliArgs(args), { maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === 'number' ? failed.code : 1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

/** Why the daemon cannot be started from this build, or null when it can. */
export async function findDaemonPrerequisites(): Promise<string | null> {
  if (!existsSync(cliPath)) return `the CLI ${cliPath} is missing: compile with tsc first`;
  const { stdout } = await runCli(['run', '--help']);
  if (!stdout.includes('--runtime-endpoint')) return 'daemon not ready: `cri-rebalancer run` has no --runtime-endpoint yet';
  return null;
}

export interface DaemonLogLine {
  readonly level?: number;
  readonly msg?: string;
  readonly [key: string]: unknown;
}

export interface DaemonOptions {
  /** The runtime's CRI socket. */
  readonly runtimeEndpoint: string;
  /** A directory of the caller's own for the daemon's sockets and state. */
  readonly dir: string;
  readonly policyFile?: string;
  /** The sysfs root the topology is read from (default: the machine's). */
  readonly sysfs?: string;
  readonly readyTimeoutMs?: number;
  /** Another build's compiled CLI (its dist/cli.js) to run instead of this one's: a benchmark's baseline. */
  readonly cli?: string;
  /** Node flags instead of the systemd unit's (src/node-flags.ts): a benchmark's baseline. */
  readonly nodeFlags?: readonly string[];
}

export interface DaemonProcess {
  readonly pid: number;
  /** The CRI socket kubelet would use. */
  readonly socket: string;
  readonly controlSocket: string;
  readonly stateDir: string;
  /** Every JSON log line so far, in order. */
  readonly logs: readonly DaemonLogLine[];
  /** Resolves with the first log line (past or future) that matches. */
  waitForLog(match: (line: DaemonLogLine) => boolean, timeoutMs?: number): Promise<DaemonLogLine>;
  /** SIGTERM; resolves with the exit code once it has exited. */
  terminate(timeoutMs?: number): Promise<number | null>;
  /** SIGKILL, as a crash; resolves once it has exited. */
  kill(): Promise<void>;
}

function isReadyLine(line: DaemonLogLine): boolean {
  return typeof line.msg === 'string' && /\bready\b/iu.test(line.msg);
}

function waitForExit(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

export async function startDaemon(options: DaemonOptions): Promise<DaemonProcess> {
  const socket = join(options.dir, 'cri-rebalancer.sock');
  const controlSocket = join(options.dir, 'control.sock');
  const stateDir = join(options.dir, 'state');
  const args = [
    'run',
    '--runtime-endpoint',
    options.runtimeEndpoint,
    '--listen',
    socket,
    '--control-socket',
    controlSocket,
    '--state-dir',
    stateDir,
    '--sysfs',
    options.sysfs ?? '/sys',
    ...(options.policyFile === undefined ? [] : ['--policy', options.policyFile]),
  ];
  const child = spawn(process.execPath, [...(options.nodeFlags ?? daemonNodeFlags), ...formatCliArgs(args, options.cli)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: DaemonLogLine[] = [];
  const waiters = new Set<{ match: (line: DaemonLogLine) => boolean; resolve: (line: DaemonLogLine) => void }>();
  let stderr = '';
  let partial = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const text of lines) {
      let line: DaemonLogLine;
      try {
        line = JSON.parse(text) as DaemonLogLine;
      } catch {
        line = { msg: text };
      }
      logs.push(line);
      for (const waiter of waiters) {
        if (waiter.match(line)) {
          waiters.delete(waiter);
          waiter.resolve(line);
        }
      }
    }
  });
  const exited = waitForExit(child);

  const daemon: DaemonProcess = {
    pid: child.pid ?? -1,
    socket,
    controlSocket,
    stateDir,
    logs,
    waitForLog(match, timeoutMs = 10_000) {
      const seen = logs.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const waiter = {
          match,
          resolve: (line: DaemonLogLine) => {
            clearTimeout(timer);
            resolve(line);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no matching daemon log line in ${timeoutMs} ms; stderr:\n${stderr.slice(-2000)}`));
        }, timeoutMs);
        waiters.add(waiter);
        void exited.then((code) => {
          if (!waiters.delete(waiter)) return;
          clearTimeout(timer);
          reject(new Error(`the daemon exited (${code}) before the awaited log line; stderr:\n${stderr.slice(-2000)}`));
        });
      });
    },
    async terminate(timeoutMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };

  try {
    await daemon.waitForLog(isReadyLine, options.readyTimeoutMs ?? 20_000);
  } catch (error) {
    await daemon.kill();
    throw error;
  }
  return daemon;
}
