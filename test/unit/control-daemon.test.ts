// The daemon wired together in-process, in front of the no-op CRI backend: start order, the ready
// line, status over the control socket, reloads, stop with a final checkpoint, and every start-up
// failure with its message. Everything lives in a temp dir; nothing needs root.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { requestControl } from '../../src/control/client.js';
import type { StatusReport } from '../../src/control/report.js';
import { runDaemon, startDaemon, type Daemon, type DaemonOptions } from '../../src/main.js';
import { missingNodeFlags } from '../../src/node-flags.js';
import { qemuTwoNode } from '../fixtures/specs.js';
import { capturingStderr, memoryLogSink } from '../helpers/daemon-fakes.js';
import { startNoopBackend } from '../helpers/noop-cri-backend.js';
import { generateSysfsTree } from '../helpers/sysfs-fixtures.js';

const sysfsRoot = generateSysfsTree(qemuTwoNode).root;

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function setUp(t: { teardown(fn: () => void | Promise<void>): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'cri-rebalancer-daemon-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(policyFile, 'logLevel: debug\n');
  const sink = memoryLogSink();
  const options: DaemonOptions = {
    policyFile,
    overrides: { runtimeEndpoint: join(dir, 'runtime.sock'), listen: join(dir, 'cri.sock'), controlSocket: join(dir, 'control.sock'), stateDir: join(dir, 'state') },
    sysfsRoot,
    rebuildState: false,
    reconcileIntervalMs: 20,
    runtimeRetryMs: 10,
    logDestination: sink.stream,
  };
  return { dir, policyFile, options, ...sink };
}

/** setUp with the no-op backend answering at the runtime endpoint. */
async function setUpWithBackend(t: { teardown(fn: () => void | Promise<void>): void }) {
  const setup = setUp(t);
  const backend = await startNoopBackend(setup.options.overrides.runtimeEndpoint!);
  t.teardown(() => backend.close());
  return { ...setup, backend };
}

t.test('the daemon starts in order, serves status, reloads, and stops with a checkpoint', async (t) => {
  const setup = await setUpWithBackend(t);
  const started = await startDaemon(setup.options);
  if (typeof started === 'number') return t.fail(`started (exit ${started})`);
  const daemon: Daemon = started;
  const messages = (): string[] => setup.lines.map((line) => line.msg);
  t.ok(messages().indexOf('reconciled with the runtime') < messages().indexOf('ready'), 'reconciled before serving');
  const flagsHint = setup.lines.find((line) => line.msg.startsWith('Node runs without the flags of the systemd unit'));
  t.same(flagsHint?.['missing'] ?? [], missingNodeFlags(process.execArgv), "names the unit file's Node flags this process lacks");
  t.match(setup.lines.find((line) => line.msg === 'ready'), { listen: join(setup.dir, 'cri.sock'), control: join(setup.dir, 'control.sock'), runtime: join(setup.dir, 'runtime.sock'), cpus: '0-3' });
  t.ok(existsSync(join(setup.dir, 'cri.sock')));

  const status = await requestControl(join(setup.dir, 'control.sock'), { command: 'status' });
  t.match(status, { ok: true });
  t.equal((status as { result: StatusReport }).result.cpus.length, 4);
  await until(() => setup.backend.calls.filter((call) => call.path.endsWith('/ListContainers')).length >= 3);
  t.pass('the light reconcile runs periodically');

  writeFileSync(setup.policyFile, 'logLevel: debug\nplacement:\n  onInsufficent: shared\n');
  await daemon.reload('test');
  t.match(setup.lines.at(-1), { level: 50, msg: /policy reload failed; the policy in force is kept:\n.*policy\.yaml:3:3: placement\.onInsufficent/ });
  writeFileSync(setup.policyFile, 'logLevel: info\nstateDir: /elsewhere\nlisten:\n  socketMode: 0600\nplacement:\n  onInsufficient: shared\n');
  await daemon.reload('test');
  const reloaded = setup.lines.find((line) => line.msg === 'policy reloaded' && line.why === 'test');
  t.same([...(reloaded?.changed as string[])].sort(), ['listen.socketMode', 'logLevel', 'placement.onInsufficient'], 'stateDir stays the flag\'s');
  t.match(setup.lines.find((line) => line.msg === 'these keys take effect after a restart'), { keys: ['listen.socketMode'] });

  t.equal(await daemon.stop('test'), 0);
  t.equal(await daemon.stop('again'), 0, 'stopping twice is one stop');
  t.match(JSON.parse(readFileSync(join(setup.dir, 'state', 'state.json'), 'utf8')), { kind: 'cri-rebalancer/state', version: 1 });
  t.notOk(existsSync(join(setup.dir, 'control.sock')), 'control socket removed');
  t.notOk(existsSync(join(setup.dir, 'cri.sock')), 'CRI socket removed');
  t.match(setup.lines.at(-1), { msg: 'stopped; state checkpointed' });
});

t.test('start-up failures exit 1 and say what to do', async (t) => {
  const setup = setUp(t);
  writeFileSync(setup.policyFile, 'listen:\n  sockett: /x\n');
  const badPolicy = await capturingStderr(() => startDaemon(setup.options));
  t.equal(badPolicy.result, 1);
  t.match(badPolicy.stderr, /invalid policy file:\n.*policy\.yaml:2:3/);
  const options = { ...setup.options, policyFile: null };

  const noSysfs = await capturingStderr(() => startDaemon({ ...options, sysfsRoot: join(setup.dir, 'no-sysfs') }));
  t.equal(noSysfs.result, 1);
  t.match(noSysfs.stderr, /cannot read the CPU topology from .*no-sysfs/);

  const relative = await capturingStderr(() => startDaemon({ ...options, overrides: { ...options.overrides, runtimeEndpoint: 'runtime.sock' } }));
  t.equal(relative.result, 1);
  t.match(relative.stderr, /invalid runtime endpoint "runtime.sock": it is not an absolute path/);

  const stateDir = options.overrides.stateDir!;
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(join(stateDir, 'state.json'), '{"apiVersion": "v1", "kind": "ConfigMap"}');
  const foreign = await capturingStderr(() => startDaemon(options));
  t.equal(foreign.result, 1);
  t.match(foreign.stderr, /not a cri-rebalancer state checkpoint.*--rebuild-state/);
  t.match(setup.lines.at(-1), { level: 60, msg: /not a cri-rebalancer state checkpoint/ });

  // The runtime is not up: start-up waits (kubelet cannot connect meanwhile) until stopped.
  const abort = new AbortController();
  const waiting = startDaemon({ ...options, rebuildState: true, signal: abort.signal });
  await until(() => setup.lines.some((line) => line.msg.startsWith('the runtime does not answer')));
  t.notOk(existsSync(options.overrides.listen!), 'not serving kubelet before the state matches the runtime');
  abort.abort();
  t.equal(await waiting, 0);
  t.ok(setup.lines.some((line) => line.msg.startsWith('rebuilding the state from the runtime')));

  // A checkpoint that cannot be written is no reason to wait for the runtime: it fails start-up.
  const backend = await startNoopBackend(options.overrides.runtimeEndpoint!);
  t.teardown(() => backend.close());
  rmSync(stateDir, { recursive: true });
  mkdirSync(join(stateDir, 'state.json', 'inner'), { recursive: true });
  const unwritable = await capturingStderr(() => startDaemon({ ...options, rebuildState: true }));
  t.equal(unwritable.result, 1);
  t.match(unwritable.stderr, /reconciling with the runtime failed: rename .*state\.json: Is a directory/);
  rmSync(stateDir, { recursive: true });
  writeFileSync(stateDir, 'a file where the state directory goes');
  const noStateDir = await capturingStderr(() => startDaemon({ ...options, rebuildState: true }));
  t.equal(noStateDir.result, 1);
  t.match(noStateDir.stderr, /cannot lock the state directory .*(EEXIST|ENOTDIR)/);
  rmSync(stateDir);

  // A path that is not a socket where the control socket goes: nothing is left listening.
  writeFileSync(options.overrides.controlSocket!, '');
  const blocked = await capturingStderr(() => startDaemon({ ...options, rebuildState: true }));
  t.equal(blocked.result, 1);
  t.match(blocked.stderr, /control\.sock exists and is not a socket: remove it, or pass --control-socket/);
  t.notOk(existsSync(options.overrides.listen!));
});

t.test('start-up removes the temp file of a checkpoint write that a crash interrupted', async (t) => {
  const setup = await setUpWithBackend(t);
  const exited = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => exited.once('exit', resolve));
  const stateDir = setup.options.overrides.stateDir!;
  const leftover = `.state.json.${exited.pid}.7.tmp`;
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(join(stateDir, leftover), '{"half": ');
  const daemon = await startDaemon(setup.options);
  if (typeof daemon === 'number') return t.fail(`started (exit ${daemon})`);
  t.notOk(existsSync(join(stateDir, leftover)));
  t.match(setup.lines.find((line) => line.msg.startsWith('removed temp files')), { removed: [leftover] });
  t.equal(await daemon.stop('test'), 0);
});

t.test('a second daemon on the same state directory stops before it reads or writes it', async (t) => {
  const setup = await setUpWithBackend(t);
  const first = await startDaemon(setup.options);
  if (typeof first === 'number') return t.fail(`started (exit ${first})`);
  const stateDir = setup.options.overrides.stateDir!;
  const checkpoint = readFileSync(join(stateDir, 'state.json'), 'utf8');
  const own = (name: string): DaemonOptions => ({
    ...setup.options,
    overrides: { ...setup.options.overrides, listen: join(setup.dir, `${name}.sock`), controlSocket: join(setup.dir, `${name}-control.sock`) },
  });
  const second = await capturingStderr(() => startDaemon({ ...own('second'), rebuildState: true }));
  t.equal(second.result, 1);
  t.match(second.stderr, `another process (pid ${process.pid}) holds the state directory ${stateDir}`);
  t.equal(readFileSync(join(stateDir, 'state.json'), 'utf8'), checkpoint, 'the checkpoint untouched, even with --rebuild-state');
  t.notOk(existsSync(join(setup.dir, 'second.sock')));
  t.equal(await first.stop('test'), 0);
  const third = await startDaemon(own('third'));
  if (typeof third === 'number') return t.fail(`a daemon starts once the first has stopped (exit ${third})`);
  t.equal(await third.stop('test'), 0);
});

t.test('run: SIGTERM stops the daemon with exit 0; SIGHUP reloads', async (t) => {
  const setup = await setUpWithBackend(t);
  const hangUpListeners = process.listenerCount('SIGHUP');
  const running = runDaemon(setup.options);
  await until(() => setup.lines.some((line) => line.msg === 'ready'));
  process.kill(process.pid, 'SIGHUP');
  await until(() => setup.lines.some((line) => line.msg === 'policy reloaded'));
  process.kill(process.pid, 'SIGTERM');
  t.equal(await running, 0);
  t.match(setup.lines.find((line) => line.msg.startsWith('stopping')), { reason: 'SIGTERM' });
  t.equal(process.listenerCount('SIGHUP'), hangUpListeners, 'signal handlers removed');

  const early = runDaemon({ ...setup.options, overrides: { ...setup.options.overrides, runtimeEndpoint: join(setup.dir, 'absent.sock') } });
  await until(() => setup.lines.some((line) => line.msg.startsWith('the runtime does not answer')));
  process.kill(process.pid, 'SIGINT');
  t.equal(await early, 0, 'a signal while waiting for the runtime ends start-up');
  const failed = await capturingStderr(() => runDaemon({ ...setup.options, sysfsRoot: join(setup.dir, 'none') }));
  t.equal(failed.result, 1, 'a failed start-up is exit 1');
});
