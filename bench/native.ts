// Native addon benchmark (npm run bench:native [-- --cgroups N --events E --ticks T] | [-- --migration
// [--mib M] [--from A] [--to B] [--budget-ms MS] [--rounds R] [--movers N] [--calls-out FILE]]).
// The last line printed is one JSON object with every number (--calls-out: every paced call too).
//
// Default: the cost of one sampling tick over N cgroup2 directories × E software events (one
// counter group per CPU, every group read in ONE worker call), in CPU time (process.cpuUsage, the
// worker thread included) and wall time, against baselines measured in the same run: one worker
// call per container, and an empty worker round trip; extrapolated to 100 containers × 4 events
// at a 1 s interval. Then the cost of reading the eBPF programs' map once, with an entry per cgroup.
//
// --migration (for a multi-node machine, e.g. the QEMU guest): M MiB held by a child process,
// moved between nodes A and B by the paced movePages (20 ms budget) and by one unpaced
// migrate_pages, back to back, R rounds (see migrationRound); throughput of each as bytes that
// arrived on the target (numa_maps) per second, the median of the rounds' ratios, the calls'
// times (longest, percentiles, over budget, and of those, over budget on the CPU alone), and where
// the paced time went: listing, locating, inside move calls, the cost per page inside them, call
// times by batch size.
import type { ChildProcess } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { loadAddon } from '../src/monitor/addon.js';
import { closeCounters, openCounters, readCounters, type CounterGroup } from '../src/monitor/counters.js';
import { parseNumaMaps, sumNumaMapsByNode } from '../src/monitor/numa-maps.js';
import { cpuToNodeOf, loadNumaPrograms } from '../src/monitor/numa-programs.js';
import { migratePages, movePages, type MigrationCall } from '../src/monitor/page-migration.js';
import { softwareEventNames } from '../src/monitor/perf-events.js';
import { discoverTopology } from '../src/topology/discover.js';
import { cgroup2Root, nativeSkipReason, readRootCpuset, spawnBusy, spawnMemoryHolder, stop, TestCgroup, v1Hierarchy } from '../test/integration/native-fixtures.js';
import { median, percentile } from '../src/metrics/percentile.js';

const { values: options } = parseArgs({
  options: {
    cgroups: { type: 'string', default: '100' },
    events: { type: 'string', default: '4' },
    ticks: { type: 'string', default: '50' },
    migration: { type: 'boolean', default: false },
    mib: { type: 'string', default: '256' },
    from: { type: 'string', default: '0' },
    to: { type: 'string', default: '1' },
    'budget-ms': { type: 'string', default: '20' },
    rounds: { type: 'string', default: '5' },
    movers: { type: 'string', default: '1' },
    'calls-out': { type: 'string' },
  },
  strict: true,
});

const round = (value: number, digits = 2) => Number(value.toFixed(digits));

/** CPU µs and wall µs of `rounds` runs of `work`, per run. */
async function measure(rounds: number, work: () => Promise<unknown>): Promise<{ cpuMicros: number; wallMicros: number }> {
  await work();
  const cpuBefore = process.cpuUsage();
  const wallBefore = performance.now();
  for (let index = 0; index < rounds; index++) await work();
  const cpu = process.cpuUsage(cpuBefore);
  return { cpuMicros: (cpu.user + cpu.system) / rounds, wallMicros: ((performance.now() - wallBefore) * 1000) / rounds };
}

async function benchTick(): Promise<Record<string, unknown>> {
  const root = cgroup2Root();
  if (root === undefined) return { skipped: 'no cgroup2 mount' };
  const cgroupCount = Number(options.cgroups);
  const eventCount = Math.min(Number(options.events), softwareEventNames.length);
  const ticks = Number(options.ticks);
  const events = softwareEventNames.slice(0, eventCount);
  const cgroups: TestCgroup[] = [];
  const groups: CounterGroup[] = [];
  // Two cgroups hold a busy process, so some reads find their counters running (an IPI each).
  const busy = [spawnBusy(), spawnBusy()];
  try {
    for (let index = 0; index < cgroupCount; index++) cgroups.push(TestCgroup.create(root));
    busy.forEach((child, index) => cgroups[index]?.add(child.pid as number));
    for (const cgroup of cgroups) groups.push(openCounters({ cgroupPath: cgroup.dir, events }));
    const fds = groups.reduce((sum, group) => sum + group.fdCount, 0);
    const oneCall = await measure(ticks, () => readCounters(groups));
    const callPerContainer = await measure(ticks, () => Promise.all(groups.map((group) => readCounters([group]))));
    const emptyRoundTrip = await measure(ticks * 10, () => loadAddon().emptyRoundTrip());
    const counters = cgroupCount * eventCount;
    const extrapolatedCpuMicros = (oneCall.cpuMicros / counters) * 100 * 4;
    return {
      cgroups: cgroupCount,
      events: eventCount,
      counters,
      perfFds: fds,
      activeCgroups: busy.length,
      tickCpuMicros: round(oneCall.cpuMicros),
      tickWallMicros: round(oneCall.wallMicros),
      cpuMicrosPerCounter: round(oneCall.cpuMicros / counters, 3),
      cpuMicrosPerFd: round(oneCall.cpuMicros / fds, 3),
      baselineCallPerContainerCpuMicros: round(callPerContainer.cpuMicros),
      baselineCallPerContainerWallMicros: round(callPerContainer.wallMicros),
      oneCallVsCallPerContainerCpuRatio: round(oneCall.cpuMicros / callPerContainer.cpuMicros, 3),
      emptyWorkerRoundTripCpuMicros: round(emptyRoundTrip.cpuMicros),
      emptyWorkerRoundTripWallMicros: round(emptyRoundTrip.wallMicros),
      percentOfOneCoreAt1s_100x4: round((extrapolatedCpuMicros / 1e6) * 100, 3),
      ebpfRead: await benchEbpfRead(cgroups, spawnBusy()),
    };
  } finally {
    for (const group of groups) closeCounters(group);
    for (const child of busy) await stop(child);
    for (const cgroup of cgroups) await cgroup.remove();
  }
}

/**
 * The eBPF map read, with one entry per benchmark cgroup: a busy process visits each cgroup2
 * directory and is bounced between CPU 0 and 1 there by a v1 cpuset (where the host has one).
 */
async function benchEbpfRead(cgroups: readonly TestCgroup[], mover: ChildProcess): Promise<Record<string, unknown>> {
  const programs = await loadNumaPrograms({ cpuToNode: cpuToNodeOf(await discoverTopology()), keying: 'v2' });
  if (!programs.available) return { skipped: programs.reason };
  const cpusetRoot = v1Hierarchy('cpuset');
  const cpuset = cpusetRoot === undefined ? undefined : TestCgroup.create(cpusetRoot, { 'cpuset.mems': readRootCpuset().mems, 'cpuset.cpus': '0' });
  try {
    if (cpuset !== undefined) {
      cpuset.add(mover.pid as number);
      for (const cgroup of cgroups) {
        cgroup.add(mover.pid as number);
        for (const cpu of ['1', '0']) {
          cpuset.write('cpuset.cpus', cpu);
          await sleep(1);
        }
      }
    }
    await stop(mover);
    const entries = (await programs.read()).size;
    const read = await measure(Number(options.ticks), () => programs.read());
    return { entries, readCpuMicros: round(read.cpuMicros), readWallMicros: round(read.wallMicros), cpuMicrosPerEntry: round(read.cpuMicros / Math.max(1, entries), 3) };
  } finally {
    programs.close();
    await stop(mover);
    await cpuset?.remove();
  }
}

async function bytesOnNode(pid: number, node: number): Promise<number> {
  return sumNumaMapsByNode(parseNumaMaps(await readFile(`/proc/${pid}/numa_maps`, 'utf8'))).bytesByNode.get(node) ?? 0;
}

/**
 * Move calls grouped by size (powers of two): how a call's time grows with its pages, i.e. its
 * fixed cost (the smallest calls) and its cost per page (the largest).
 */
function callCostByPages(calls: readonly MigrationCall[]): Record<string, { calls: number; medianMs: number; medianMicrosPerPage: number }> {
  const groups = new Map<number, MigrationCall[]>();
  for (const call of calls) {
    const floor = 2 ** Math.floor(Math.log2(Math.max(1, call.pages)));
    groups.set(floor, [...(groups.get(floor) ?? []), call]);
  }
  return Object.fromEntries(
    [...groups]
      .sort(([a], [b]) => a - b)
      .map(([floor, group]) => [
        `${floor}-${floor * 2 - 1}`,
        { calls: group.length, medianMs: round(median(group.map((call) => call.elapsedMs))), medianMicrosPerPage: round(median(group.map((call) => (call.elapsedMs * 1000) / call.pages))) },
      ]),
  );
}

/**
 * One paced move and one unpaced migrate_pages of the same memory, back to back and measured
 * alike (bytes that arrived on the target, numa_maps, per elapsed second): the first from A to B,
 * the second back from B to A, so no move between them costs time. Rounds alternate which goes
 * first: each side moves both ways and goes first as often.
 */
async function migrationRound(pid: number, a: number, b: number, budgetMs: number, pacedFirst: boolean) {
  const pacedTo = pacedFirst ? b : a;
  const unpacedTo = pacedFirst ? a : b;
  const movePaced = async () => {
    const before = await bytesOnNode(pid, pacedTo);
    const start = performance.now();
    const result = await movePages({ pid, targetNode: pacedTo, budgetMs, movers: Number(options.movers), recordCalls: true });
    // elapsedMs is the addon thread's (listing the pages, locating, moving); this adds reading
    // the mappings and the round trips.
    const wallMs = performance.now() - start;
    return { result, wallMs, bytes: (await bytesOnNode(pid, pacedTo)) - before };
  };
  const moveUnpaced = async () => {
    const before = await bytesOnNode(pid, unpacedTo);
    const result = await migratePages({ pid, fromNodes: [pacedTo], toNodes: [unpacedTo] });
    return { result, bytes: (await bytesOnNode(pid, unpacedTo)) - before };
  };
  const pacedBeforeUnpaced = pacedFirst ? await movePaced() : undefined;
  const { result: unpaced, bytes: unpacedBytes } = await moveUnpaced();
  const { result: paced, wallMs: pacedWallMs, bytes: pacedBytes } = pacedBeforeUnpaced ?? (await movePaced());
  const pacedBytesPerSec = pacedBytes / (paced.elapsedMs / 1000);
  const unpacedBytesPerSec = unpacedBytes / (unpaced.elapsedMs / 1000);
  return {
    paced,
    pacedWallMs,
    pacedBytes,
    pacedBytesPerSec,
    unpaced,
    unpacedBytes,
    unpacedBytesPerSec,
    ratio: pacedBytesPerSec / unpacedBytesPerSec,
    ratioWall: pacedBytes / (pacedWallMs / 1000) / unpacedBytesPerSec,
  };
}

async function benchMigration(): Promise<Record<string, unknown>> {
  const topology = await discoverTopology();
  const from = Number(options.from);
  const to = Number(options.to);
  const nodeIds = topology.nodes.map((node) => node.id);
  if (!nodeIds.includes(from) || !nodeIds.includes(to) || from === to) {
    return { skipped: `needs nodes ${from} and ${to}; this machine has ${nodeIds.join(', ')}` };
  }
  const mib = Number(options.mib);
  const budgetMs = Number(options['budget-ms']);
  const child = await spawnMemoryHolder(mib);
  const pid = child.pid as number;
  try {
    const home = await migratePages({ pid, fromNodes: nodeIds, toNodes: [from] });
    if (home.error !== undefined) return { skipped: home.error };
    // Under emulation the host backs a guest page on its first touch: the first move onto B
    // would pay that alone, so B's pages are touched once before anything is measured.
    await migratePages({ pid, fromNodes: [from], toNodes: [to] });
    await migratePages({ pid, fromNodes: [to], toNodes: [from] });
    // Coarse: sampling every 1 ms costs an emulated guest a timer interrupt per ms.
    const delay = monitorEventLoopDelay({ resolution: 20 });
    delay.enable();
    // Rounds, each paced and unpaced back to back: a noisy host (TCG guest) moves both alike.
    const rounds = [];
    for (let round = 0; round < Number(options.rounds); round++) {
      const result = await migrationRound(pid, from, to, budgetMs, round % 2 === 0);
      if (result.paced.error !== undefined) return { skipped: result.paced.error };
      rounds.push(result);
    }
    delay.disable();
    const paced = rounds.map((entry) => entry.paced);
    const calls = paced.flatMap((result) => result.callLog ?? []);
    if (options['calls-out'] !== undefined) await writeFile(options['calls-out'], JSON.stringify(calls));
    const sum = (values: readonly number[]) => values.reduce((total, value) => total + value, 0);
    const pacedElapsedMs = sum(paced.map((result) => result.elapsedMs));
    const pageBytes = loadAddon().pageSizeBytes;
    const unpacedMicrosPerPage = median(rounds.map((entry) => (entry.unpaced.elapsedMs * 1000) / (entry.unpacedBytes / pageBytes)));
    const mibPerSec = (bytesPerSec: number) => round(bytesPerSec / 2 ** 20);
    return {
      mib,
      from,
      to,
      budgetMs,
      movers: Number(options.movers),
      rounds: rounds.length,
      pacedBytesMoved: median(rounds.map((entry) => entry.pacedBytes)),
      pacedCountedBytesMoved: median(paced.map((result) => result.bytesMoved)),
      pacedElapsedMs: rounds.map((entry) => round(entry.paced.elapsedMs)),
      pacedShareInCalls: round((sum(paced.map((result) => result.queryMs + result.moveMs)) / pacedElapsedMs), 3),
      pacedShareAsleep: round(sum(paced.map((result) => result.pacingMs)) / pacedElapsedMs, 3),
      pacedCalls: median(paced.map((result) => result.calls)),
      pacedMedianMovePages: median(calls.map((call) => call.pages)),
      pacedMedianMoveCallMs: round(median(calls.map((call) => call.elapsedMs))),
      pacedWallMs: rounds.map((entry) => round(entry.pacedWallMs)),
      pacedListMs: paced.map((result) => round(result.listMs)),
      pacedQueryMs: paced.map((result) => round(result.queryMs)),
      pacedMaxCallMs: round(Math.max(...paced.map((result) => result.maxCallMs))),
      pacedMoveCallMsP50P90P99: [0.5, 0.9, 0.99].map((rank) => round(percentile(calls.map((call) => call.elapsedMs), rank))),
      pacedCallsOverBudget: calls.filter((call) => call.elapsedMs > budgetMs).length,
      // Of those, the calls whose thread was on a CPU for longer than the budget; in the others
      // the excess was time asleep in the kernel (waiting for other CPUs) or preempted in the
      // guest. Time the host took the vCPU away still reads as CPU time in the guest.
      pacedCallsOverBudgetOnCpu: calls.filter((call) => call.elapsedMs > budgetMs && call.cpuMs > budgetMs).length,
      pacedMoveCallsOffCpuMs: round(sum(calls.map((call) => call.elapsedMs - call.cpuMs))),
      pacedMoveCalls: calls.length,
      pacedFailedByErrno: Object.assign({}, ...paced.map((result) => result.pagesFailedByErrno)) as Record<string, number>,
      pacedMiBPerSecByRound: rounds.map((entry) => mibPerSec(entry.pacedBytesPerSec)),
      pacedMiBPerSec: mibPerSec(median(rounds.map((entry) => entry.pacedBytesPerSec))),
      pacedInCallMicrosPerPage: round(median(rounds.map((entry) => (entry.paced.moveMs * 1000) / (entry.pacedBytes / pageBytes)))),
      moveCallCostByPages: callCostByPages(calls),
      eventLoopMaxDelayMs: round(delay.max / 1e6),
      unpacedBytesMoved: median(rounds.map((entry) => entry.unpacedBytes)),
      unpacedElapsedMs: rounds.map((entry) => round(entry.unpaced.elapsedMs)),
      unpacedMicrosPerPage: round(unpacedMicrosPerPage),
      unpacedMiBPerSecByRound: rounds.map((entry) => mibPerSec(entry.unpacedBytesPerSec)),
      unpacedMiBPerSec: mibPerSec(median(rounds.map((entry) => entry.unpacedBytesPerSec))),
      pacedVsUnpacedByRound: rounds.map((entry) => round(entry.ratio, 3)),
      pacedVsUnpacedThroughput: round(median(rounds.map((entry) => entry.ratio)), 3),
      pacedWallVsUnpacedByRound: rounds.map((entry) => round(entry.ratioWall, 3)),
    };
  } finally {
    await stop(child);
  }
}

const skip = nativeSkipReason();
let result: Record<string, unknown>;
if (skip !== undefined) result = { skipped: skip };
else if (options.migration) result = { migration: await benchMigration() };
else result = await benchTick();
console.log(JSON.stringify(result));
