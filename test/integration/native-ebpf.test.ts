// The eBPF NUMA event programs on the real kernel: a process that the test bounces between CPU 0
// and CPU 1 with a v1 cpuset is counted under its v1 memory cgroup (the keying of cgroup-v1 hosts)
// and under its cgroup2 directory (v2 keying); with a cpuToNode map that puts CPU 0 and CPU 1 on
// different nodes every bounce is a cross-node migration. Load failures are values, not crashes.
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { cgroupIdOf, discoverCgroupKeying, loadNumaPrograms, type NumaPrograms } from '../../src/monitor/numa-programs.js';
import { cgroup2Root, nativeSkipReason, readRootCpuset, spawnBusy, stop, TestCgroup, v1Hierarchy } from './native-fixtures.js';
import { cpus } from 'node:os';

const skip =
  nativeSkipReason() ??
  (cpus().length < 2 ? 'needs two CPUs to bounce a process between' : undefined) ??
  (v1Hierarchy('memory') === undefined || v1Hierarchy('cpuset') === undefined ? 'needs the v1 memory and cpuset controllers (a cgroup v1 hybrid host)' : undefined) ??
  (cgroup2Root() === undefined ? 'needs the cgroup2 mount' : undefined);

const bounces = 20;

t.test('cross-node task migrations are counted per v1 memory cgroup and per cgroup2 directory', { skip }, async (t) => {
  t.equal(discoverCgroupKeying(), 'v1-memory', 'a v1 hybrid host keys by the memory cgroup');
  const cpuToNode = [0, 1];
  const byMemoryCgroup = await loadNumaPrograms({ cpuToNode, keying: 'v1-memory' });
  const byCgroup2 = await loadNumaPrograms({ cpuToNode, keying: 'v2' });
  if (!byMemoryCgroup.available) throw new Error(byMemoryCgroup.reason);
  if (!byCgroup2.available) throw new Error(byCgroup2.reason);
  t.same([...byMemoryCgroup.attached].sort(), ['mm_migrate_pages', 'sched_migrate_task', 'sched_move_numa', 'sched_skip_cpuset_numa', 'sched_stick_numa', 'sched_swap_numa']);

  const memory = TestCgroup.create(v1Hierarchy('memory') as string);
  const root = readRootCpuset();
  const cpuset = TestCgroup.create(v1Hierarchy('cpuset') as string, { 'cpuset.mems': root.mems, 'cpuset.cpus': '0' });
  const unified = TestCgroup.create(cgroup2Root() as string);
  const child = spawnBusy();
  t.teardown(async () => {
    byMemoryCgroup.close();
    byCgroup2.close();
    await stop(child);
    for (const cgroup of [memory, cpuset, unified]) await cgroup.remove();
  });
  const pid = child.pid as number;
  for (const cgroup of [memory, cpuset, unified]) cgroup.add(pid);
  await sleep(50);

  const countsOf = async (programs: NumaPrograms, dir: string) => (await programs.read()).get(await cgroupIdOf(dir));
  const memoryBefore = (await countsOf(byMemoryCgroup, memory.dir))?.crossNodeMigrations ?? 0;
  const unifiedBefore = (await countsOf(byCgroup2, unified.dir))?.crossNodeMigrations ?? 0;
  for (let bounce = 1; bounce <= bounces; bounce++) {
    cpuset.write('cpuset.cpus', String(bounce % 2));
    await sleep(10);
  }
  const memoryCounts = await countsOf(byMemoryCgroup, memory.dir);
  const unifiedCounts = await countsOf(byCgroup2, unified.dir);
  const crossed = (memoryCounts?.crossNodeMigrations ?? 0) - memoryBefore;
  t.ok(crossed >= bounces, `${crossed} cross-node migrations counted for ${bounces} bounces (v1 memory cgroup key)`);
  t.ok((memoryCounts?.taskMigrations ?? 0) >= (memoryCounts?.crossNodeMigrations ?? 0), 'every cross-node migration is a migration');
  t.ok((unifiedCounts?.crossNodeMigrations ?? 0) - unifiedBefore >= bounces, 'the same under the cgroup2 key');

  byMemoryCgroup.close();
  byMemoryCgroup.close();
  await t.rejects(byMemoryCgroup.read(), /closed/u, 'closed programs are detached and cannot be read');
});

t.test('a CPU-to-node map that puts both CPUs on one node counts no cross-node migrations', { skip }, async (t) => {
  const programs = await loadNumaPrograms({ cpuToNode: [0, 0], keying: 'v1-memory' });
  if (!programs.available) throw new Error(programs.reason);
  const memory = TestCgroup.create(v1Hierarchy('memory') as string);
  const cpuset = TestCgroup.create(v1Hierarchy('cpuset') as string, { 'cpuset.mems': readRootCpuset().mems, 'cpuset.cpus': '0' });
  const child = spawnBusy();
  t.teardown(async () => {
    programs.close();
    await stop(child);
    for (const cgroup of [memory, cpuset]) await cgroup.remove();
  });
  for (const cgroup of [memory, cpuset]) cgroup.add(child.pid as number);
  for (let bounce = 1; bounce <= bounces; bounce++) {
    cpuset.write('cpuset.cpus', String(bounce % 2));
    await sleep(10);
  }
  const counts = (await programs.read()).get(await cgroupIdOf(memory.dir));
  t.ok((counts?.taskMigrations ?? 0) >= bounces, `${counts?.taskMigrations} migrations seen`);
  t.equal(counts?.crossNodeMigrations, 0, 'none crossed a node');
});

t.test('a load failure is a value with a reason', { skip: nativeSkipReason() }, async (t) => {
  const programs = await loadNumaPrograms({ cpuToNode: new Array<number>(5000).fill(0) });
  t.equal(programs.available, false);
  t.match(!programs.available && programs.reason, /5000 CPUs/u);
});
