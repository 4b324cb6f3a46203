import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { execFile, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { defaultPolicy } from '../../src/config/defaults.js';
import { AllocationMap } from '../../src/placement/allocation-map.js';
import type { Allocation, ContainerRequest } from '../../src/placement/types.js';
import type { NativeAddon } from '../../src/monitor/addon.js';
import { historyFileName, openCheckpointFile, removeStaleTempFiles, replaceFileStepwise, replaceThroughSpare, type CheckpointFile, type ReplaceFile } from '../../src/state/checkpoint-file.js';
import { bindPlacementEngine } from '../../src/state/engine.js';
import { pendingKey, withAdmission, withBinding, withMoves, withPod, withRelease, withoutPod } from '../../src/state/changes.js';
import { canonicalJson, checksumOf, formatCheckpoint, formatHistory, parseCheckpoint, parseHistory } from '../../src/state/codec.js';
import { Mutex } from '../../src/state/mutex.js';
import { withReleases } from '../../src/state/releases.js';
import { lockStateDir } from '../../src/state/state-lock.js';
import { openStore } from '../../src/state/store.js';
import { emptySnapshot, historyLimit, historyPerContainerLimit, type StateSnapshot } from '../../src/state/types.js';
import { validateSnapshot } from '../../src/state/validate.js';
import { CpuSet } from '../../src/topology/cpuset.js';
import { discoverTopologySync } from '../../src/topology/discover.js';
import { qemuTwoNode } from '../fixtures/specs.js';
import { generateSysfsTree } from '../helpers/sysfs-fixtures.js';

const topology = discoverTopologySync(generateSysfsTree(qemuTwoNode).root);
const engine = bindPlacementEngine(topology, () => defaultPolicy);
const at = '2026-01-01T00:00:00.000Z';

function request(container: string, qos: ContainerRequest['qos'] = 'Guaranteed'): ContainerRequest {
  return { pod: 'web', namespace: 'default', container, qos, cpuRequestMilli: 1000, cpuLimitMilli: 1000, memoryLimitBytes: null, annotations: { a: 'b' } };
}

function allocation(id: string, cpus: string, exclusive = true): Allocation {
  return {
    id,
    request: request(id, exclusive ? 'Guaranteed' : 'Burstable'),
    cpus: CpuSet.parse(cpus),
    mems: CpuSet.parse('0'),
    pool: exclusive ? 'exclusive' : 'shared',
    exclusive,
    reasons: ['because'],
  };
}

function admit(snapshot: StateSnapshot, allocations: Allocation[], id: string, phase: 'pending' | 'created' = 'created'): StateSnapshot {
  const map = new Map(snapshot.allocations);
  for (const item of allocations) map.set(item.id, item);
  const admitted = map.get(id)!;
  return withAdmission(snapshot, {
    allocation: admitted,
    allocations: map,
    updates: allocations.filter((item) => item.id !== id).map((item) => ({ id: item.id, cpus: item.cpus, mems: item.mems })),
    container: { id, sandboxId: 'sb1', name: id, phase, since: at },
    action: 'admit',
    at,
  });
}

const run = promisify(execFile);

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'cri-rebalancer-state-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const sample = withPod(admit(admit(emptySnapshot, [allocation('c1', '2')], 'c1'), [allocation('c2', '0-1,3', false)], 'c2'), {
  id: 'sb1',
  namespace: 'default',
  name: 'web',
  uid: 'u1',
  annotations: {},
  qos: 'Guaranteed',
  cgroupParent: '/kubepods/podu1',
});

t.test('canonical JSON sorts keys at every level; checksum follows the content', async (t) => {
  t.equal(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: 2 }], c: null } }), '{"a":{"c":null,"d":[2,{"y":2,"z":1}]},"b":1}');
  t.equal(checksumOf({ a: 1, b: 2 }), checksumOf({ b: 2, a: 1 }));
  t.not(checksumOf({ a: 1 }), checksumOf({ a: 2 }));
});

t.test('a checkpoint round-trips every field', async (t) => {
  const text = formatCheckpoint(sample);
  const parsed = parseCheckpoint(text, '/x/state.json');
  t.ok(parsed.ok);
  if (!parsed.ok) return;
  t.equal(formatCheckpoint(parsed.snapshot), text, 'same text again');
  t.equal(formatCheckpoint(sample), text, 'the same text from the records\' cached JSON');
  const byId = <T extends { id: string }>(records: Iterable<T>): T[] => [...records].sort((a, b) => a.id.localeCompare(b.id));
  t.equal(
    text.slice(text.indexOf('"payload":') + '"payload":'.length, -'}\n'.length),
    canonicalJson({ allocations: byId(sample.allocations.values()), containers: byId(sample.containers.values()), pods: byId(sample.pods.values()) }),
    'the payload is the canonical JSON of the sorted records',
  );
  const c1 = parsed.snapshot.allocations.get('c1')!;
  t.ok(c1.cpus.equals(CpuSet.of([2])));
  t.same(c1.request, request('c1'));
  t.equal(parsed.snapshot.pods.get('sb1')?.cgroupParent, '/kubepods/podu1');
  t.equal(parsed.snapshot.containers.get('c2')?.phase, 'created');
  t.same(parsed.snapshot.history, [], 'the history is not in the checkpoint');
  t.notOk('history' in JSON.parse(text).payload);
  t.match(JSON.parse(text), { kind: 'cri-rebalancer/state', version: 1, checksum: /^sha256:[0-9a-f]{64}$/ });
});

t.test('the history round-trips through its own file; a damaged one is a reason, not a crash', async (t) => {
  t.ok(sample.history.length > 0);
  const text = formatHistory(sample.history);
  const parsed = parseHistory(text, '/x/history.json');
  if (!parsed.ok) return t.fail(parsed.message);
  t.equal(formatHistory(parsed.history), text, 'same text again');
  t.ok(parsed.history[0]?.cpus.equals(sample.history[0]!.cpus), 'cpulists come back as CpuSets');
  t.match(parseHistory('{', '/x/history.json'), { ok: false, message: /history file \/x\/history.json is not valid JSON/ });
  t.match(parseHistory(formatCheckpoint(sample), '/x/history.json'), { ok: false, message: '/x/history.json is not a cri-rebalancer history file of version 1' });
});

t.test('a shared container pinned to a node stays pinned there across a restart', async (t) => {
  const pinning = bindPlacementEngine(topology, () => ({ ...defaultPolicy, placement: { ...defaultPolicy.placement, pinSharedToNode: true } }));
  const shared = (id: string): ContainerRequest => request(id, 'Burstable');
  const placed = pinning.place(emptySnapshot.allocations, 'p1', shared('p1'));
  if (!placed.ok) return t.fail('places');
  const pinnedNode = placed.decision.allocation.pinnedNode;
  t.type(pinnedNode, 'number', 'placed pinned');
  const before = withAdmission(emptySnapshot, {
    ...placed.decision,
    container: { id: 'p1', sandboxId: 'sb1', name: 'p1', phase: 'created', since: at },
    action: 'admit',
    at,
  });
  const text = formatCheckpoint(before);
  t.equal(JSON.parse(text).payload.allocations[0].pinnedNode, pinnedNode, 'written');
  const parsed = parseCheckpoint(text, 'f');
  if (!parsed.ok) return t.fail('parses');
  t.equal(parsed.snapshot.allocations.get('p1')?.pinnedNode, pinnedNode, 'read back');
  t.equal(formatCheckpoint(parsed.snapshot), text, 'same text again');
  // The pinned request still counts on its node: the next shared container goes to the other one.
  const next = (allocations: StateSnapshot['allocations']) => {
    const result = pinning.place(allocations, 'p2', shared('p2'));
    return result.ok ? result.decision.allocation.pinnedNode : null;
  };
  t.not(next(parsed.snapshot.allocations), pinnedNode);
  t.equal(next(parsed.snapshot.allocations), next(before.allocations), 'the same decision as before the restart');
  const unpinned = parseCheckpoint(formatCheckpoint(sample), 'f');
  t.ok(unpinned.ok && !('pinnedNode' in unpinned.snapshot.allocations.get('c2')!), 'absent stays absent');
  const badNode = JSON.parse(text);
  badNode.payload.allocations[0].pinnedNode = -1;
  badNode.checksum = checksumOf(badNode.payload);
  t.match(parseCheckpoint(JSON.stringify(badNode), 'f'), { ok: false, problem: { code: 'corrupt', message: /allocations\.0\.pinnedNode/ } });
});

t.test('a bad checkpoint says what is wrong and how to recover', async (t) => {
  const good = JSON.parse(formatCheckpoint(sample));
  const cases: [string, string, RegExp][] = [
    ['corrupt', '{"kind": "cri-rebalan', /not valid JSON.*--rebuild-state/],
    ['foreign', JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap' }), /not a cri-rebalancer state checkpoint.*--state-dir.*--rebuild-state/],
    ['unsupported-version', JSON.stringify({ ...good, version: 2 }), /version 2; this cri-rebalancer reads version 1.*--rebuild-state/],
    ['checksum-mismatch', JSON.stringify({ ...good, payload: { ...good.payload, pods: [] } }), /fails its checksum.*--rebuild-state/],
  ];
  for (const [code, text, message] of cases) {
    const parsed = parseCheckpoint(text, '/var/lib/x/state.json');
    t.notOk(parsed.ok, code);
    if (parsed.ok) continue;
    t.equal(parsed.problem.code, code);
    t.match(parsed.problem.message, message);
    t.match(parsed.problem.message, '/var/lib/x/state.json');
  }
  const badPayload = { allocations: [{ id: 'x' }], containers: [], pods: [], history: [] };
  const parsed = parseCheckpoint(JSON.stringify({ kind: 'cri-rebalancer/state', version: 1, checksum: checksumOf(badPayload), payload: badPayload }), 'f');
  t.match(parsed, { ok: false, problem: { code: 'corrupt', message: /invalid payload at allocations\.0\.request/ } });
  const badCpus = JSON.parse(formatCheckpoint(sample));
  badCpus.payload.allocations[0].cpus = '3-1';
  badCpus.checksum = checksumOf(badCpus.payload);
  t.match(parseCheckpoint(JSON.stringify(badCpus), 'f'), { ok: false, problem: { code: 'corrupt', message: /allocations\.0\.cpus/ } });
});

t.test('a checkpoint is checked against the live machine', async (t) => {
  t.equal(validateSnapshot(sample, topology, 'f'), null);
  const gone = admit(emptySnapshot, [allocation('big', '2-9')], 'big');
  t.match(validateSnapshot(gone, topology, 'f'), { code: 'machine-mismatch', message: /container big on CPUs 4-9, which are not online.*online: 0-3.*--rebuild-state/ });
  const badMems = admit(emptySnapshot, [{ ...allocation('m', '1'), mems: CpuSet.of([0, 5]) }], 'm');
  t.match(validateSnapshot(badMems, topology, 'f'), { code: 'machine-mismatch', message: /memory nodes 5/ });
  const twice = admit(admit(emptySnapshot, [allocation('a', '1-2')], 'a'), [allocation('b', '2')], 'b');
  t.match(validateSnapshot(twice, topology, 'f'), { code: 'conflict', message: /CPU 2 exclusively to both a and b/ });
});

t.test('changes record admissions, binds, moves and releases in the history', async (t) => {
  const pending = pendingKey('7');
  let state = admit(emptySnapshot, [allocation(pending, '2')], pending, 'pending');
  t.equal(state.containers.get(pending)?.phase, 'pending');
  state = withBinding(state, engine.rename(state.allocations, pending, 'abc'), pending, 'abc', at);
  t.ok(state.allocations instanceof AllocationMap, "the engine's map is kept: the next decision need not count afresh");
  t.notOk(state.allocations.has(pending));
  t.equal(state.allocations.get('abc')?.id, 'abc');
  t.equal(state.containers.get('abc')?.phase, 'created');
  t.same(
    state.history.map((entry) => [entry.container, entry.action]),
    [
      ['abc', 'admit'],
      ['abc', 'bind'],
    ],
  );
  t.equal(withBinding(state, engine.rename(state.allocations, 'pending:99', 'x'), 'pending:99', 'x', at), state, 'unknown pending key: unchanged');
  state = admit(state, [allocation('s', '0-1,3', false)], 's');
  const moved = new Map(state.allocations);
  moved.set('abc', { ...allocation('abc', '3'), reasons: ['closer to its memory'] });
  state = withMoves(state, moved, [{ id: 'abc', cpus: CpuSet.of([3]), mems: CpuSet.of([0]) }, { id: 'gone', cpus: CpuSet.of([1]), mems: CpuSet.of([0]) }], ['rebalance'], at);
  t.match(state.history.at(-1), { container: 'abc', action: 'move', reasons: ['rebalance'] });
  const after = new Map(state.allocations);
  after.delete('abc');
  after.set('s', allocation('s', '0-3', false));
  state = withRelease(state, { id: 'abc', allocations: after, updates: [{ id: 's', cpus: CpuSet.parse('0-3'), mems: CpuSet.of([0]) }], reasons: ['stopped'], at });
  t.notOk(state.containers.has('abc'));
  t.match(state.history.slice(-2), [
    { container: 'abc', action: 'release', reasons: ['stopped'] },
    { container: 's', action: 'update', reasons: [/when abc was released/] },
  ]);
  t.equal(withoutPod(state, 'nope'), state);
  t.equal(withoutPod(withPod(state, { ...sample.pods.get('sb1')! }), 'sb1').pods.size, 0);
});

t.test('releasing several containers: each through the engine, unknown ids passed over', async (t) => {
  const placed = engine.place(emptySnapshot.allocations, 'g', request('g'));
  if (!placed.ok) return t.fail('places');
  let state = withAdmission(emptySnapshot, { ...placed.decision, container: { id: 'g', sandboxId: 'sb1', name: 'g', phase: 'created', since: at }, action: 'admit', at });
  state = { ...state, containers: new Map(state.containers).set('orphan', { id: 'orphan', sandboxId: null, name: 'o', phase: 'pending', since: at }) };
  const released: string[] = [];
  const counting = {
    release: (allocations: StateSnapshot['allocations'], id: string) => {
      released.push(id);
      return engine.release(allocations, id);
    },
  };
  const result = withReleases(state, counting, [{ id: 'g', reason: 'stopped' }, { id: 'nobody', reason: 'x' }, { id: 'orphan', reason: 'lost' }], at);
  t.same(result.released, ['g', 'orphan']);
  t.same(released, ['g'], 'a record without an allocation frees no CPUs: the engine is not asked');
  t.equal(result.snapshot.allocations.size, 0);
  t.equal(result.snapshot.containers.size, 0);
  const releases = result.snapshot.history.filter((entry) => entry.action === 'release');
  t.same(releases.map((entry) => [entry.container, entry.reasons]), [['g', ['stopped']]], 'the orphan had no allocation to record');
});

t.test('history is bounded per container and overall, newest kept', async (t) => {
  let busy = emptySnapshot;
  for (let index = 0; index < 3 * (historyPerContainerLimit + 5); index++) busy = admit(busy, [allocation(`c${index % 3}`, '1', false)], `c${index % 3}`);
  t.equal(busy.history.length, 3 * historyPerContainerLimit, 'each of 3 containers keeps its newest entries');
  let many = emptySnapshot;
  const count = historyLimit + 10;
  for (let index = 0; index < count; index++) many = admit(many, [allocation(`c${index}`, '1', false)], `c${index}`);
  t.equal(many.history.length, historyLimit);
  t.equal(many.history.at(-1)?.container, `c${count - 1}`, 'the newest entry kept');
  t.equal(many.history[0]?.container, `c${count - historyLimit}`, 'the oldest dropped first');
});

// The addon straight from the build: loadAddon's one cached load belongs to the suite's addon tests.
const addon = createRequire(import.meta.url)(join(process.cwd(), 'build', 'Release', 'cri_rebalancer.node')) as NativeAddon;
const replaceWithAddon = replaceThroughSpare(addon);
// How each writes, and what a write leaves beside the checkpoint.
const replacers: ReadonlyArray<[string, ReplaceFile, string[]]> = [
  ['the addon, in one trip through its spare', replaceWithAddon, ['.state.json.spare', 'state.json']],
  ['node:fs, step by step', replaceFileStepwise, ['state.json']],
];

t.test('without the addon, checkpoints are written through node:fs, and the reason says what to do', async (t) => {
  // In a process of its own: the addon is loaded once per process, and this one may have it.
  const module = JSON.stringify(new URL('../../src/state/checkpoint-file.js', import.meta.url).href);
  const script = `const { chooseFileReplacer, replaceFileStepwise } = await import(${module});
    const chosen = chooseFileReplacer();
    console.log(JSON.stringify({ stepwise: chosen.replace === replaceFileStepwise, reason: chosen.fallbackReason }));`;
  const missing = join(tempDir(t), 'missing.node');
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, CRI_REBALANCER_ADDON: missing } });
  t.match(JSON.parse(stdout), { stepwise: true, reason: /not built.*npm rebuild/ });
});

for (const [how, replace, leftBehind] of replacers) {
  t.test(`the checkpoint file is written atomically (${how}): temp file, rename, no stray files`, async (t) => {
    const dir = join(tempDir(t), 'nested');
    const file = openCheckpointFile(dir, undefined, replace);
    t.equal(await file.read(), null, 'no checkpoint yet');
    await file.write('one\n');
    await file.write('two\n');
    t.equal(await file.read(), 'two\n');
    t.same(readdirSync(dir).sort(), leftBehind);
    for (const name of leftBehind) t.equal(statSync(join(dir, name)).mode & 0o777, 0o600, name);
    t.equal(statSync(dir).mode & 0o777, 0o700);
    // A write that cannot rename (the target is a non-empty directory) keeps nothing half-written.
    const blocked = openCheckpointFile(dir, 'blocked', replace);
    writeFileSync(join(dir, 'keep'), '');
    mkdirSync(join(dir, 'blocked', 'inner'), { recursive: true });
    await t.rejects(blocked.write('x'), { code: 'EISDIR', syscall: 'rename' });
    t.same(readdirSync(dir).sort(), [...leftBehind, 'blocked', 'keep'].sort(), 'temp file removed after a failed write');
    t.same(readdirSync(join(dir, 'blocked')), ['inner'], 'the directory in the way untouched');
    const unreadable = openCheckpointFile(join(dir, 'state.json'), undefined, replace);
    await t.rejects(unreadable.read(), { code: 'ENOTDIR' });
    await t.rejects(unreadable.write('x'), { code: 'EEXIST' }, 'a file where the directory should be');
    await t.rejects(replace(join(dir, 'gone', 'x'), Buffer.from('x'), 0o600), { code: 'ENOENT', syscall: 'open' });
  });
}

t.test("the addon's spare holds the checkpoint before, and both keep their size while the text fits", async (t) => {
  const dir = tempDir(t);
  const file = openCheckpointFile(dir, undefined, replaceWithAddon);
  const spare = join(dir, '.state.json.spare');
  const sizes = (): number[] => [statSync(file.path).size, statSync(spare).size];
  const text = (length: number, fill: string): string => `${fill.repeat(length - 1)}\n`;
  await file.write(text(100, 'a'));
  t.same(readdirSync(dir), ['state.json'], 'the first write renames its new temp file: nothing to swap with');
  t.equal(statSync(file.path).size, 4096, 'padded to a whole block');
  t.equal(readFileSync(file.path, 'utf8'), text(100, 'a') + ' '.repeat(3996), 'the padding is spaces after the text');
  await file.write(text(5000, 'b'));
  t.equal(await file.read(), text(5000, 'b'));
  t.equal((await readFile(spare, 'utf8')).trimEnd(), text(100, 'a').trimEnd(), 'the spare holds the checkpoint before');
  t.same(sizes(), [8192, 4096], 'grown to the blocks the text needs');
  await file.write(text(10, 'c'));
  t.equal(await file.read(), text(10, 'c'));
  t.same(sizes(), [4096, 8192], 'a file the text fits keeps its size');
  await file.write(text(20, 'd'));
  t.same(sizes(), [8192, 4096], 'half padding is still kept');
  await file.write(text(20_000, 'e'));
  await file.write(text(20_000, 'f'));
  await file.write(text(30, 'g'));
  t.equal(await file.read(), text(30, 'g'));
  t.same(sizes(), [4096, 20_480], 'a file that would be mostly padding shrinks');
});

t.test("the addon overwrites whatever its spare holds: torn, longer, another mode; nothing but a file is written through", async (t) => {
  const dir = tempDir(t);
  const file = openCheckpointFile(dir, undefined, replaceWithAddon);
  const spare = join(dir, '.state.json.spare');
  await file.write('one\n');
  writeFileSync(spare, 'x'.repeat(10_000), { mode: 0o644 });
  await file.write('two\n');
  t.equal(await file.read(), 'two\n', 'a torn spare from a crash is overwritten, its tail included');
  t.equal(statSync(file.path).mode & 0o777, 0o600);
  t.equal(await readFile(spare, 'utf8'), `one\n${' '.repeat(4092)}`);
  rmSync(spare);
  mkdirSync(spare);
  await t.rejects(file.write('three\n'), { code: 'EISDIR', syscall: 'open' });
  rmSync(spare, { recursive: true });
  writeFileSync(join(dir, 'elsewhere'), 'keep');
  symlinkSync(join(dir, 'elsewhere'), spare);
  await t.rejects(file.write('three\n'), { code: 'ELOOP', syscall: 'open' });
  t.equal(readFileSync(join(dir, 'elsewhere'), 'utf8'), 'keep', 'a link in its place is not followed');
  t.equal(await file.read(), 'two\n', 'the checkpoint is untouched by the failed writes');
});

t.test("temp files of node:fs writes whose writer died are removed at start; a running writer's and other files are kept", async (t) => {
  const dir = tempDir(t);
  const exited = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => exited.once('exit', resolve));
  const gone = `.state.json.${exited.pid}.3.tmp`;
  const goneHistory = `.history.json.${exited.pid}.4.tmp`;
  const running = `.state.json.${process.pid}.1.tmp`;
  for (const name of [gone, goneHistory, running, '.state.json.spare', 'state.json', 'lock', 'notes.tmp']) writeFileSync(join(dir, name), '');
  t.same((await removeStaleTempFiles(dir)).sort(), [goneHistory, gone].sort());
  t.same(readdirSync(dir).sort(), [running, '.state.json.spare', 'lock', 'notes.tmp', 'state.json'].sort());
  t.same(await removeStaleTempFiles(join(dir, 'missing')), [], 'no directory yet: nothing to remove');
});

t.test('the state directory is locked: another holder is refused with its pid until it lets go or dies', async (t) => {
  const dir = join(tempDir(t), 'state');
  const first = await lockStateDir(dir, () => addon);
  if (!first.ok) return t.fail(first.message);
  t.equal(first.unlockedReason, undefined);
  t.equal(statSync(dir).mode & 0o777, 0o700, 'the directory made as the checkpoint wants it');
  t.equal(readFileSync(join(dir, 'lock'), 'utf8'), `${process.pid}\n`);
  t.match(await lockStateDir(dir, () => addon), { ok: false, message: `another process (pid ${process.pid}) holds the state directory ${dir}` });
  first.release();
  first.release();
  const again = await lockStateDir(dir, () => addon);
  t.ok(again.ok, 'free once released');
  if (again.ok) again.release();

  const addonPath = join(process.cwd(), 'build', 'Release', 'cri_rebalancer.node');
  const holder = spawn(process.execPath, ['-e', `require(${JSON.stringify(addonPath)}).lockFileExclusive(${JSON.stringify(join(dir, 'lock'))}); console.log('held'); setInterval(() => {}, 1000);`]);
  await new Promise((resolve) => holder.stdout.once('data', resolve));
  t.match(await lockStateDir(dir, () => addon), { ok: false, message: `another process (pid ${holder.pid}) holds` });
  holder.kill('SIGKILL');
  await new Promise((resolve) => holder.once('exit', resolve));
  const afterCrash = await lockStateDir(dir, () => addon);
  t.ok(afterCrash.ok, 'a holder killed with SIGKILL leaves no stale lock');
  if (afterCrash.ok) afterCrash.release();
});

t.test('the state lock: without the addon it is not taken, and says why; a directory that cannot be made is an error', async (t) => {
  const dir = tempDir(t);
  t.match(
    await lockStateDir(join(dir, 'state'), () => {
      throw new Error('the native addon is not built');
    }),
    { ok: true, unlockedReason: 'the native addon is not built' },
  );
  writeFileSync(join(dir, 'file'), '');
  t.match(await lockStateDir(join(dir, 'file'), () => addon), { ok: false, message: /cannot lock the state directory .*file.*(EEXIST|ENOTDIR)/u });
});

t.test('the store checkpoints before it changes, and loads what it wrote', async (t) => {
  const dir = tempDir(t);
  const file = openCheckpointFile(dir);
  const opened = await openStore(file, topology, { clock: () => new Date(at) });
  t.ok(opened.ok);
  if (!opened.ok) return;
  const { store } = opened;
  t.equal(store.now(), at);
  t.equal(store.path, join(dir, 'state.json'));
  await store.commit(sample);
  t.equal(store.snapshot, sample);
  await store.commit(sample);
  const reopened = await openStore(file, topology);
  t.ok(reopened.ok && reopened.store.snapshot.allocations.size === 2);

  const failing: CheckpointFile = { path: 'mem', read: async () => null, write: async () => Promise.reject(new Error('disk full')) };
  const failingStore = await openStore(failing, topology);
  if (!failingStore.ok) return t.fail('opens');
  await t.rejects(failingStore.store.commit(sample), /disk full/);
  t.equal(failingStore.store.snapshot, emptySnapshot, 'a failed checkpoint changes nothing');
});

t.test('the store saves the history apart, only when it changed; a damaged one does not stop the start', async (t) => {
  const dir = tempDir(t);
  const file = openCheckpointFile(dir);
  let historyWrites = 0;
  const onDisk = openCheckpointFile(dir, historyFileName);
  const historyFile: CheckpointFile = { path: onDisk.path, read: () => onDisk.read(), write: (text) => (historyWrites++, onDisk.write(text)) };
  const opened = await openStore(file, topology, { historyFile });
  if (!opened.ok) return t.fail('opens');
  await opened.store.commit(sample);
  t.equal(await historyFile.read(), null, 'a commit leaves the history for later');
  await opened.store.saveHistory();
  await opened.store.saveHistory();
  t.equal(historyWrites, 1, 'saved once: nothing changed in between');
  t.equal(await historyFile.read(), formatHistory(sample.history));
  const reopened = await openStore(file, topology, { historyFile });
  if (!reopened.ok) return t.fail('reopens');
  t.equal(reopened.store.snapshot.history.length, sample.history.length, 'loaded with the checkpoint');
  t.equal(reopened.store.snapshot.allocations.size, sample.allocations.size);
  writeFileSync(historyFile.path, 'garbage');
  const damaged = await openStore(file, topology, { historyFile });
  t.match(damaged, { ok: true, historyProblem: /is not valid JSON/ });
  t.same(damaged.ok && damaged.store.snapshot.history, []);
  const unreadable: CheckpointFile = { path: '/h', read: async () => Promise.reject(new Error('EIO')), write: async () => undefined };
  t.match(await openStore(file, topology, { historyFile: unreadable }), { ok: true, historyProblem: 'cannot read history file /h: EIO' });
});

t.test('opening a bad checkpoint stops with the problem; --rebuild-state starts empty', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'state.json'), 'garbage');
  const file = openCheckpointFile(dir);
  t.match(await openStore(file, topology), { ok: false, problem: { code: 'corrupt' } });
  const rebuilt = await openStore(file, topology, { rebuild: true });
  t.match(rebuilt, { ok: true, rebuilt: true });
  t.equal(readFileSync(join(dir, 'state.json'), 'utf8'), 'garbage', 'the old file stays until the first checkpoint');
  const elsewhere = admit(emptySnapshot, [allocation('x', '7')], 'x');
  writeFileSync(join(dir, 'state.json'), formatCheckpoint(elsewhere));
  t.match(await openStore(file, topology), { ok: false, problem: { code: 'machine-mismatch' } });
  const broken: CheckpointFile = { path: '/p', read: async () => Promise.reject(new Error('EACCES')), write: async () => undefined };
  t.match(await openStore(broken, topology), { ok: false, problem: { code: 'unreadable', message: /cannot read state checkpoint \/p: EACCES/ } });
});

t.test('the mutex runs work one at a time, in order, past failures', async (t) => {
  const mutex = new Mutex();
  const order: string[] = [];
  let running = 0;
  const work = (name: string, fail = false) =>
    mutex.run(async () => {
      running++;
      t.equal(running, 1, `${name} alone`);
      await new Promise((resolve) => setTimeout(resolve, 5));
      order.push(name);
      running--;
      if (fail) throw new Error(name);
      return name;
    });
  const results = await Promise.allSettled([work('a'), work('b', true), work('c')]);
  t.same(order, ['a', 'b', 'c']);
  t.match(results, [{ status: 'fulfilled', value: 'a' }, { status: 'rejected' }, { status: 'fulfilled', value: 'c' }]);
});
