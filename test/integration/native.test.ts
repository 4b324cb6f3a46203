// The native addon on the real kernel: capabilities match this machine, software counters of a
// real cgroup2 directory and of a process rise, the fd budget holds, move_pages/migrate_pages work
// on a live process, and the memory readers see its pages.
import t from 'tap';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { discoverCapabilities } from '../../src/monitor/capabilities.js';
import { loadAddon } from '../../src/monitor/addon.js';
import { closeCounters, CounterError, eventEncodings, openCounters, perfFdUsage, readCounters, setPerfFdBudget } from '../../src/monitor/counters.js';
import { parseNumaMaps, readContainerNumaMaps } from '../../src/monitor/numa-maps.js';
import { readContainerNumaStat } from '../../src/monitor/numa-stat.js';
import { migratePages, movePages, queryPageNodes } from '../../src/monitor/page-migration.js';
import { softwareEventNames } from '../../src/monitor/perf-events.js';
import { readdirSync, readFileSync } from 'node:fs';
import { cgroup2Root, nativeSkipReason, spawnBusy, spawnMemoryHolder, stop, TestCgroup, v1Hierarchy } from './native-fixtures.js';

const skip = nativeSkipReason();

/** utime + stime of a process from /proc/PID/stat, in ms. */
function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

t.test('capabilities match this machine', { skip }, async (t) => {
  const capabilities = await discoverCapabilities();
  t.equal(capabilities.addon.available, true);
  t.equal(capabilities.softwareEvents.available, true, 'software events count everywhere');
  // Ground truth independent of perf_event_open: the kernel registers a core PMU device.
  const hasPmu = readdirSync('/sys/bus/event_source/devices').some((name) => name === 'cpu' || name.startsWith('cpu_') || name.startsWith('armv8'));
  t.equal(capabilities.hardwareEvents.available, hasPmu, hasPmu ? 'a core PMU is registered' : 'no core PMU is registered');
  if (!hasPmu) {
    t.match(capabilities.hardwareEvents.reason, /no hardware PMU.*ENOENT/u, 'says plainly: no hardware PMU');
    t.match(capabilities.hardwareEvents.events['remote-dram']?.reason, /ENOENT/u);
  }
  t.ok(capabilities.hardwareEvents.events['remote-dram']?.source, 'this CPU has a DRAM event encoding in the table');
  t.equal(capabilities.perCgroupCounting.available, true);
  t.equal(capabilities.ebpf.available, true, capabilities.ebpf.reason ?? '');
  t.ok(capabilities.ebpf.attached.includes('sched_migrate_task'));
  t.equal(capabilities.pageMigration.available, true);
  const resctrlKnown = /\bresctrl$/mu.test(readFileSync('/proc/filesystems', 'utf8'));
  if (!resctrlKnown) {
    t.equal(capabilities.resctrl.available, false);
    t.match(capabilities.resctrl.reason, /no resctrl/u, 'says plainly: no resctrl');
  }
});

t.test('software counters of a cgroup2 directory rise with a busy process in it', { skip: skip ?? (cgroup2Root() === undefined ? 'no cgroup2 mount' : undefined) }, async (t) => {
  const cgroup = TestCgroup.create(cgroup2Root() as string);
  const child = spawnBusy();
  t.teardown(async () => {
    await stop(child);
    await cgroup.remove();
  });
  cgroup.add(child.pid as number);
  const openBefore = perfFdUsage().open;
  const group = openCounters({ cgroupPath: cgroup.dir, events: softwareEventNames });
  const byPid = openCounters({ pid: child.pid as number, events: ['task-clock', 'context-switches'] });
  t.equal(perfFdUsage().open, openBefore + group.fdCount + byPid.fdCount);
  // The machine is shared: wait for the child to get CPU time rather than for a fixed interval,
  // and compare the counters with the kernel's own account of it (/proc/PID/stat, 10 ms ticks).
  const cpuMsBefore = processCpuMs(child.pid as number);
  await readCounters([group, byPid]);
  for (let waited = 0; processCpuMs(child.pid as number) - cpuMsBefore < 200 && waited < 10_000; waited += 50) await sleep(50);
  const [cgroupReading, pidReading] = await readCounters([group, byPid]);
  const childCpuMs = processCpuMs(child.pid as number) - cpuMsBefore;
  const taskClockMs = (cgroupReading?.deltas.get('task-clock') ?? 0) / 1e6;
  t.ok(childCpuMs >= 200, `the busy child ran ${childCpuMs} ms`);
  t.ok(Math.abs(taskClockMs - childCpuMs) <= 0.2 * childCpuMs + 30, `cgroup task-clock ${taskClockMs.toFixed(1)} ms ≈ the child's ${childCpuMs} ms of CPU`);
  t.ok(Math.abs((pidReading?.deltas.get('task-clock') ?? 0) / 1e6 - childCpuMs) <= 0.2 * childCpuMs + 30, 'per-process task-clock too');
  t.ok((cgroupReading?.runningFraction ?? 0) > 0, 'the counters ran');
  t.equal(cgroupReading?.error, undefined);
  const [next] = await readCounters([group]);
  const nextMs = (next?.deltas.get('task-clock') ?? Infinity) / 1e6;
  // A read right after another counts only what ran in between (plus at most a timeslice the
  // last read had not seen yet), never the 200 ms already reported.
  t.ok(nextMs < taskClockMs / 4, `reads are deltas: ${nextMs.toFixed(2)} ms counted by the next read`);
  closeCounters(group);
  closeCounters(byPid);
  t.equal(perfFdUsage().open, openBefore, 'closing releases every descriptor');
  const [closed] = await readCounters([group]);
  t.match(closed?.error, /closed/u);
});

// A busy loop on an idle machine may never be switched out; a process that keeps waiting for a
// short-lived child is, every time.
t.test('context switches of a process that keeps blocking are counted', { skip }, async (t) => {
  const child = spawn('sh', ['-c', 'while :; do sleep 0.01; done'], { stdio: 'ignore' });
  t.teardown(() => stop(child));
  const group = openCounters({ pid: child.pid as number, events: ['context-switches'] });
  t.teardown(() => closeCounters(group));
  await readCounters([group]);
  await sleep(200);
  const [reading] = await readCounters([group]);
  t.ok((reading?.deltas.get('context-switches') ?? 0) > 0, `switched out ${reading?.deltas.get('context-switches')} times in 200 ms`);
});

t.test('the perf descriptor budget is enforced with a clear error', { skip: skip ?? (cgroup2Root() === undefined ? 'no cgroup2 mount' : undefined) }, async (t) => {
  const { open, budget } = perfFdUsage();
  setPerfFdBudget(open + 1);
  t.teardown(() => setPerfFdBudget(budget));
  t.throws(() => openCounters({ cgroupPath: cgroup2Root() as string, events: ['task-clock', 'page-faults'] }), {
    code: 'EBUDGET',
    message: /budget exceeded.*close the counters of containers that are gone/u,
  });
  t.equal(perfFdUsage().open, open, 'nothing leaked');
});

function hardwareSkipReason(): string | undefined {
  if (skip !== undefined) return skip;
  const cycles = eventEncodings().encodings.get('cycles');
  return cycles !== undefined && loadAddon().probePerfEvent(cycles) === '' ? 'this machine has a hardware PMU' : undefined;
}

t.test('opening an event the machine lacks says what to do', { skip: hardwareSkipReason() }, async (t) => {
  const error = t.throws(() => openCounters({ pid: process.pid, events: ['cycles'] })) as unknown;
  t.ok(error instanceof CounterError);
  t.equal((error as CounterError).code, 'ENOENT');
  t.match((error as Error).message, /cycles.*no hardware PMU/u);
});

t.test('movePages to node 0 on a one-node machine: every page is already there', { skip }, async (t) => {
  const child = await spawnMemoryHolder(32);
  t.teardown(() => stop(child));
  const pid = child.pid as number;
  const progress: number[] = [];
  const result = await movePages({ pid, targetNode: 0, onProgress: (p) => progress.push(p.pagesSeen) });
  t.equal(result.error, undefined);
  t.equal(result.cancelled, false);
  t.ok(result.pagesAlreadyThere >= (32 << 20) / 4096, `${result.pagesAlreadyThere} pages already on node 0`);
  t.equal(result.pagesMoved, 0);
  t.same(result.pagesFailedByErrno, {});
  t.ok(result.maxCallMs <= 20, `longest call ${result.maxCallMs.toFixed(2)} ms within the 20 ms budget`);
  t.ok(progress.length > 0 && progress.length === result.calls, 'progress after every call');

  const holder = parseNumaMaps(readFileSync(`/proc/${pid}/numa_maps`, 'utf8')).find((entry) => entry.anonPages >= (32 << 20) / 4096);
  t.ok(holder, 'the 32 MiB buffer is one anonymous mapping');
  t.same([...(await queryPageNodes(pid, [holder?.address ?? 0]))], [0], 'queryPageNodes sees its first page on node 0');

  const usage = await readContainerNumaMaps([pid, 999_999_999]);
  t.ok((usage.bytesByNode.get(0) ?? 0) >= 32 << 20, 'numa_maps of the container: its memory is on node 0 (an exited pid is skipped)');

  const whole = await migratePages({ pid, fromNodes: [0], toNodes: [0] });
  t.equal(whole.error, undefined);
  t.equal(whole.notMoved, 0, 'migrate_pages of the whole process works');

  const aborted = await movePages({ pid, targetNode: 0, signal: AbortSignal.abort() });
  t.equal(aborted.cancelled, true);
  t.equal(aborted.calls, 0, 'a cancelled migration makes no call');
});

t.test('movePages of a process that is gone stops with the reason', { skip }, async (t) => {
  const child = await spawnMemoryHolder(1);
  const pid = child.pid as number;
  await stop(child);
  const result = await movePages({ pid, targetNode: 0 });
  t.match(result.error, /exited/u);
  t.equal(result.calls, 0);
  const whole = await migratePages({ pid, fromNodes: [0], toNodes: [0] });
  t.match(whole.error, /ESRCH/u);
});

t.test('memory.numa_stat of a v1 memory cgroup is read in bytes per node', { skip: skip ?? (v1Hierarchy('memory') === undefined ? 'no v1 memory controller' : undefined) }, async (t) => {
  const stat = await readContainerNumaStat(v1Hierarchy('memory') as string);
  t.equal(stat.format, 'v1');
  t.ok((stat.byKind.get('total')?.get(0) ?? 0) > 0, 'the root memory cgroup has memory on node 0');
});
