import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parseRunArgs } from '../../src/commands/run.js';
import { defaultPolicy } from '../../src/config/defaults.js';
import { requestControl, resolveControlSocket } from '../../src/control/client.js';
import { runControlCommand } from '../../src/control/command.js';
import { formatExplain, formatStatus } from '../../src/control/format.js';
import { createControlHandler } from '../../src/control/handler.js';
import { parseControlRequest } from '../../src/control/protocol.js';
import { buildStatusReport, explainContainer, type ExplainReport, type StatusReport } from '../../src/control/report.js';
import { startControlServer } from '../../src/control/server.js';
import { withOverrides } from '../../src/config/overrides.js';
import { CallTimeRecorder } from '../../src/metrics/call-times.js';
import type { Allocation } from '../../src/placement/types.js';
import { pendingKey, withAdmission, withRelease } from '../../src/state/changes.js';
import { emptySnapshot, type StateSnapshot } from '../../src/state/types.js';
import { CpuSet } from '../../src/topology/cpuset.js';
import { daemonParts, twoNodeTopology } from '../helpers/daemon-fakes.js';

const at = '2026-01-01T00:00:00.000Z';
const goldId = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9';

function allocation(id: string, container: string, cpus: string, exclusive: boolean): Allocation {
  return {
    id,
    request: { pod: 'web', namespace: 'shop', container, qos: exclusive ? 'Guaranteed' : 'Burstable', cpuRequestMilli: 1000, cpuLimitMilli: null, memoryLimitBytes: null, annotations: {} },
    cpus: CpuSet.parse(cpus),
    mems: CpuSet.parse(exclusive ? '1' : '0-1'),
    pool: exclusive ? 'exclusive' : 'shared',
    exclusive,
    reasons: [exclusive ? 'rule 2: one exclusive CPU' : 'rule 3: the shared pool'],
  };
}

function admit(snapshot: StateSnapshot, item: Allocation, phase: 'pending' | 'created' = 'created'): StateSnapshot {
  return withAdmission(snapshot, {
    allocation: item,
    allocations: new Map(snapshot.allocations).set(item.id, item),
    updates: [],
    container: { id: item.id, sandboxId: 'sb', name: item.request.container, phase, since: at },
    action: 'admit',
    at,
  });
}

let snapshot = admit(admit(emptySnapshot, allocation(goldId, 'app', '2', true)), allocation('bbbb', 'sidecar', '0-1', false));
snapshot = admit(snapshot, allocation(pendingKey('x'), 'late', '0-1', false), 'pending');
const removed = allocation('cccc', 'old', '3', true);
snapshot = admit(snapshot, removed);
snapshot = withRelease(snapshot, { id: 'cccc', allocations: new Map([...snapshot.allocations].filter(([id]) => id !== 'cccc')), updates: [], reasons: ['the container was removed'], at });
const sets = { reserved: CpuSet.empty, shared: CpuSet.parse('0-1,3') };

t.test('status gives every online CPU one owner', async (t) => {
  const report = buildStatusReport(twoNodeTopology, snapshot, sets, '/var/lib/x/state.json', []);
  t.same(
    report.cpus.map((row) => [row.cpu, row.node, row.owner, row.container ?? '']),
    [
      [0, 0, 'shared', ''],
      [1, 0, 'shared', ''],
      [2, 1, 'exclusive', goldId],
      [3, 1, 'free', ''],
    ],
  );
  t.same(report.pools, { reserved: '', isolated: '', exclusive: '2', shared: '0-1', free: '3' });
  t.same(
    report.containers.map((row) => [row.container, row.phase]),
    [
      ['app', 'created'],
      ['late', 'pending'],
      ['sidecar', 'created'],
    ],
  );
  const reserved = buildStatusReport(twoNodeTopology, emptySnapshot, { reserved: CpuSet.of([0]), shared: CpuSet.of([1, 2]) }, 'f', []);
  t.same(
    reserved.cpus.map((row) => row.owner),
    ['reserved', 'free', 'free', 'free'],
    'CPU 3 is neither reserved nor shared nor isolated: nobody holds it',
  );
  const isolated = buildStatusReport({ ...twoNodeTopology, isolated: CpuSet.of([3]) }, emptySnapshot, { reserved: CpuSet.empty, shared: CpuSet.parse('0-2') }, 'f', []);
  t.equal(isolated.cpus[3]!.owner, 'isolated');

  const text = formatStatus(report);
  t.match(text, /CPUs online: 0-3; offline: none; pods known: 0; state: \/var\/lib\/x\/state.json/);
  t.match(text, /exclusive\s+2\n/);
  t.match(text, /reserved\s+-\n/);
  t.match(text, /node 1 \(CPUs 2-3\):\n\s+cpu 2\s+core \d+\s+exclusive\s+shop\/web\/app \(a1b2c3d4e5f60\)/);
  t.match(text, /shop\/web\/late\s+creating\s+Burstable/);
  t.match(text, /- rule 2: one exclusive CPU/);
  t.match(formatStatus(buildStatusReport(twoNodeTopology, emptySnapshot, sets, 'f', [])), /containers \(0\):\n\nCRI calls: none since start\n$/);
  const calls = [{ method: 'RuntimeService/CreateContainer', calls: 12, errors: 1, daemonP50Ms: 1.234, daemonP99Ms: 4.5, runtimeP50Ms: 9.87 }];
  t.match(
    formatStatus(buildStatusReport(twoNodeTopology, emptySnapshot, sets, 'f', calls)),
    /CRI calls since start \(times: median and p99 of each method's last 256 calls\):\n\s+METHOD\s+CALLS\s+ERRORS\s+IN CRI-REBALANCER\s+P99\s+IN THE RUNTIME\n\s+RuntimeService\/CreateContainer\s+12\s+1\s+1\.23 ms\s+4\.50 ms\s+9\.87 ms\n$/,
  );
});

t.test('explain finds a container by id prefix, name or pod/container; released ones by their history', async (t) => {
  const byPrefix = explainContainer(snapshot, 'a1b2');
  t.ok(byPrefix.ok);
  if (!byPrefix.ok) return;
  t.equal(byPrefix.report.id, goldId);
  t.match(byPrefix.report.current, { pool: 'exclusive', cpus: '2', mems: '1', qos: 'Guaranteed' });
  t.same(byPrefix.report.history.map((row) => row.action), ['admit']);
  t.match(explainContainer(snapshot, 'sidecar'), { ok: true, report: { id: 'bbbb' } });
  t.match(explainContainer(snapshot, 'web/app'), { ok: true, report: { id: goldId } });
  t.match(explainContainer(snapshot, 'cccc'), { ok: true, report: { current: null, history: [{ action: 'admit' }, { action: 'release', reasons: ['the container was removed'] }] } });
  t.match(explainContainer(snapshot, 'zzz'), { ok: false, message: /no container matches "zzz".*cri-rebalancer status/ });
  const twins = admit(admit(emptySnapshot, allocation('abc1', 'x', '0', false)), allocation('abc2', 'y', '1', false));
  t.match(explainContainer(twins, 'abc'), { ok: false, message: /matches 2 containers \(abc1, abc2\); give more of the id/ });
  const exactAndLonger = admit(admit(emptySnapshot, allocation('abc', 'x', '0', false)), allocation('abcd', 'y', '1', false));
  t.match(explainContainer(exactAndLonger, 'abc'), { ok: true, report: { id: 'abc' } }, 'an exact id wins over prefixes');

  const text = formatExplain(byPrefix.report);
  t.match(text, new RegExp(`container ${goldId}: shop/web/app\\n  now: exclusive on CPUs 2, memory nodes 1 \\(Guaranteed, exclusive\\)`));
  t.match(text, /why:\n    - rule 2: one exclusive CPU\n  history:\n    2026-01-01T00:00:00.000Z  admit    exclusive  CPUs 2  mems 1/);
  const released = explainContainer(snapshot, 'cccc');
  if (released.ok) t.match(formatExplain(released.report), /released \(no longer holds CPUs\)[\s\S]*release\s+exclusive/);
  const empty: ExplainReport = { id: 'x', current: null, history: [] };
  t.match(formatExplain(empty), /\(none recorded\)/);
});

t.test('control requests are one JSON line', async (t) => {
  t.same(parseControlRequest('{"command":"status"}'), { ok: true, request: { command: 'status' } });
  t.same(parseControlRequest('{"command":"explain","container":"ab"}'), { ok: true, request: { command: 'explain', container: 'ab' } });
  t.match(parseControlRequest('{"command":"explain"}'), { ok: false, error: /explain needs "container"/ });
  t.match(parseControlRequest('nope'), { ok: false, error: /not JSON/ });
  t.match(parseControlRequest('{"command":"drop-tables"}'), { ok: false, error: /unknown command "drop-tables"; commands: status, explain/ });
  t.match(parseControlRequest('null'), { ok: false, error: /unknown command undefined/ });
});

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'cri-rebalancer-control-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('the control socket: root-only, answers status and explain, replaces a stale socket, refuses a live one', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'run', 'control.sock');
  const parts = daemonParts();
  await parts.store.commit(snapshot);
  const server = await startControlServer(path, createControlHandler(parts.store, parts.engine, twoNodeTopology, new CallTimeRecorder()));
  t.teardown(() => server.close());
  t.equal(statSync(path).mode & 0o777, 0o600);

  const status = await requestControl(path, { command: 'status' });
  t.ok(status.ok);
  const report = (status as { result: StatusReport }).result;
  t.equal(report.checkpoint, '/memory/state.json');
  t.equal(report.cpus.find((row) => row.cpu === 2)?.owner, 'exclusive');
  t.match(await requestControl(path, { command: 'explain', container: 'a1b2' }), { ok: true, result: { id: goldId } });
  t.match(await requestControl(path, { command: 'explain', container: 'nothing' }), { ok: false, error: /no container matches/ });
  t.match(await requestControl(path, { command: 'bogus' } as never), { ok: false, error: /unknown command/ });

  await t.rejects(startControlServer(path, () => ({ ok: true, result: null })), /another process serves the control socket/);
  const file = join(dir, 'file');
  writeFileSync(file, '');
  await t.rejects(startControlServer(file, () => ({ ok: true, result: null })), /is not a socket/);

  await server.close();
  // A socket file nobody listens on (a daemon that was killed) is replaced.
  const stale = createServer();
  await new Promise<void>((resolve) => stale.listen(path, resolve));
  await new Promise<void>((resolve) => {
    stale.close(() => resolve());
  });
  writeFileSync(join(dir, 'marker'), '');
  const again = await startControlServer(path, () => Promise.reject(new Error('kaput')));
  t.teardown(() => again.close());
  t.match(await requestControl(path, { command: 'status' }), { ok: false, error: /the daemon failed to answer: kaput/ });
});

t.test('the client says what to do when the daemon is not there or answers badly', async (t) => {
  const dir = tempDir(t);
  t.match(await requestControl(join(dir, 'none.sock'), { command: 'status' }), { ok: false, error: /no daemon answers on .*none\.sock: start it with `cri-rebalancer run`/ });
  const path = join(dir, 'bad.sock');
  const bad = createServer((socket) => socket.end('not json\n'));
  await new Promise<void>((resolve) => bad.listen(path, resolve));
  t.teardown(() => bad.close());
  t.match(await requestControl(path, { command: 'status' }), { ok: false, error: /not JSON/ });
  const silentPath = join(dir, 'silent.sock');
  const silent = createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(silentPath, resolve));
  t.teardown(() => silent.close());
  t.match(await requestControl(silentPath, { command: 'status' }, 50), { ok: false, error: /did not answer within 50 ms/ });
});

t.test('the control socket path: flag, else the policy file, else the default', async (t) => {
  const dir = tempDir(t);
  t.same(await resolveControlSocket('/x.sock', undefined), { ok: true, path: '/x.sock' });
  t.same(await resolveControlSocket(undefined, undefined), { ok: true, path: defaultPolicy.listen.controlSocket });
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, 'listen:\n  controlSocket: /run/elsewhere.sock\n');
  t.same(await resolveControlSocket(undefined, policy), { ok: true, path: '/run/elsewhere.sock' });
  writeFileSync(policy, 'listen:\n  controlSockett: /x\n');
  t.match(await resolveControlSocket(undefined, policy), { ok: false, error: /policy\.yaml:2:3/ });
});

t.test('status and explain commands print text or JSON, and exit 1 when the daemon cannot answer', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'control.sock');
  const parts = daemonParts();
  await parts.store.commit(snapshot);
  const server = await startControlServer(path, createControlHandler(parts.store, parts.engine, twoNodeTopology, new CallTimeRecorder()));
  t.teardown(() => server.close());
  const written: string[] = [];
  const errors: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  const writeError = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string) => written.push(chunk) > 0) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string) => errors.push(chunk) > 0) as typeof process.stderr.write;
  const explain = { name: 'explain', usage: 'usage: explain C', request: ([c]: readonly string[]) => (c === undefined ? null : { command: 'explain' as const, container: c }), format: formatExplain as (result: unknown) => string };
  let codes: number[];
  try {
    codes = [
      await runControlCommand(explain, ['a1b2', '--control-socket', path]),
      await runControlCommand(explain, ['a1b2', '--json', '--control-socket', path]),
      await runControlCommand(explain, ['--control-socket', path]),
      await runControlCommand(explain, ['--bogus']),
      await runControlCommand(explain, ['x', '--control-socket', join(dir, 'none.sock')]),
      await runControlCommand(explain, ['x', '--policy', join(dir, 'missing.yaml')]),
    ];
  } finally {
    process.stdout.write = write;
    process.stderr.write = writeError;
  }
  t.same(codes, [0, 0, 2, 2, 1, 1]);
  t.match(written[0], /now: exclusive on CPUs 2/);
  t.match(JSON.parse(written[1]!), { id: goldId, current: { cpus: '2' } });
  t.match(errors.join(''), /explain: wrong arguments\n\nusage: explain C[\s\S]*Unknown option '--bogus'[\s\S]*no daemon answers[\s\S]*missing\.yaml/);
});

t.test('run: flags override the policy', async (t) => {
  const parsed = parseRunArgs(['--policy', 'p.yaml', '--runtime-endpoint', 'unix:///r.sock', '--listen', '/l.sock', '--control-socket', '/c.sock', '--state-dir', '/s', '--sysfs', '/fake', '--rebuild-state']);
  t.same(parsed, {
    ok: true,
    options: {
      policyFile: 'p.yaml',
      overrides: { runtimeEndpoint: 'unix:///r.sock', listen: '/l.sock', controlSocket: '/c.sock', stateDir: '/s' },
      sysfsRoot: '/fake',
      rebuildState: true,
    },
  });
  t.same(parseRunArgs([]), { ok: true, options: { policyFile: null, overrides: {}, sysfsRoot: '/sys', rebuildState: false } });
  t.match(parseRunArgs(['--listen']), { ok: false, error: /--listen/ });
  const policy = withOverrides(defaultPolicy, { runtimeEndpoint: '/r.sock', listen: '/l.sock', controlSocket: '/c.sock', stateDir: '/s' });
  t.match(policy, { runtime: { endpoint: '/r.sock' }, listen: { socket: '/l.sock', controlSocket: '/c.sock', socketMode: 0o660 }, stateDir: '/s' });
  t.same(withOverrides(defaultPolicy, {}), defaultPolicy, 'no flags: the policy as it is');
});
