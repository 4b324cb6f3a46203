// `npm run bench:placement`: decision latency, throughput, memory and placement quality of the
// engine on the real 4-socket 144-CPU dump and the generated 2-socket 448-CPU machine. Admits
// 1000 containers of mixed QoS, then churns (release one, admit one), timing every decision;
// replays the same workload through a topology-blind first-fit baseline for the quality numbers.
// The last line of output is one JSON object.
import { existsSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { defaultPolicy } from '../src/config/defaults.js';
import { placeContainer, releaseContainer } from '../src/placement/engine.js';
import type { Allocations, ContainerRequest } from '../src/placement/types.js';
import type { CpuSet } from '../src/topology/cpuset.js';
import { discoverTopologySync } from '../src/topology/discover.js';
import { nodesOfCpus, wholeCoresOf } from '../src/topology/queries.js';
import type { Topology } from '../src/topology/types.js';
import { twoSocket448 } from '../test/fixtures/specs.js';
import { sharedFixturesDir } from '../test/helpers/paths.js';
import { generateSysfsTree, unpackSharedFixture } from '../test/helpers/sysfs-fixtures.js';
import { FirstFitBaseline } from './first-fit-baseline.js';
import { seededRandom } from './random.js';
import { percentile } from '../src/metrics/percentile.js';

const admitted = 1000;
const churnSteps = 4000;
const GiB = 1024 ** 3;

const exclusiveSizes = [1, 2, 2, 4, 1, 3, 8, 2];
const averageExclusive = exclusiveSizes.reduce((sum, size) => sum + size, 0) / exclusiveSizes.length;

/**
 * Mixed QoS sized to the machine: integer Guaranteed containers ask for about 3/4 of its CPUs,
 * and their memory limits for about half of its memory, in proportion to their CPUs.
 */
function workload(topology: Topology, seed: number): () => ContainerRequest {
  const next = seededRandom(seed);
  const cpus = topology.online.size;
  const exclusiveShare = Math.min(0.3, (0.75 * cpus) / (admitted * averageExclusive));
  const memoryBytes = topology.nodes.reduce((sum, node) => sum + (node.memoryBytes ?? 0), 0);
  const bytesPerCpu = (0.6 * memoryBytes) / cpus;
  let serial = 0;
  return () => {
    const pick = next();
    const base = { pod: `pod-${serial}`, namespace: 'default', container: 'app', annotations: {} };
    serial++;
    if (pick < exclusiveShare) {
      const milli = exclusiveSizes[Math.floor(next() * exclusiveSizes.length)]! * 1000;
      const memoryLimitBytes = Math.ceil(((0.5 + next()) * bytesPerCpu * milli) / 1000 / GiB) * GiB;
      return { ...base, qos: 'Guaranteed', cpuRequestMilli: milli, cpuLimitMilli: milli, memoryLimitBytes };
    }
    if (pick < exclusiveShare + 0.1) {
      return { ...base, qos: 'Guaranteed', cpuRequestMilli: 500, cpuLimitMilli: 500, memoryLimitBytes: GiB };
    }
    if (pick < exclusiveShare + 0.6) {
      const limit = next() < 0.5 ? null : Math.ceil(next() * 8) * 1000;
      return { ...base, qos: 'Burstable', cpuRequestMilli: Math.ceil(next() * 10) * 100, cpuLimitMilli: limit, memoryLimitBytes: null };
    }
    return { ...base, qos: 'BestEffort', cpuRequestMilli: 0, cpuLimitMilli: null, memoryLimitBytes: null };
  };
}

interface Quality {
  /** Exclusive Guaranteed admissions measured. */
  readonly guaranteed: number;
  readonly cpusOnOneNode: number;
  readonly cpusAndMemoryOnOneNode: number;
  readonly wholeCores: number;
  /** The same among requests of an even CPU count (odd ones cannot be whole cores on SMT2). */
  readonly wholeCoresWhenEven: number;
}

class QualityTally {
  private guaranteed = 0;
  private cpusOnOneNode = 0;
  private bothOnOneNode = 0;
  private wholeCores = 0;
  private even = 0;
  private wholeEven = 0;

  constructor(private readonly topology: Topology) {}

  add(cpus: CpuSet, mems: CpuSet): void {
    const nodes = nodesOfCpus(this.topology, cpus);
    this.guaranteed++;
    if (nodes.size === 1) this.cpusOnOneNode++;
    if (nodes.size === 1 && mems.equals(nodes)) this.bothOnOneNode++;
    const whole = wholeCoresOf(this.topology, cpus).reduce((sum, core) => sum + core.size, 0) === cpus.size;
    if (whole) this.wholeCores++;
    if (cpus.size % 2 === 0) {
      this.even++;
      if (whole) this.wholeEven++;
    }
  }

  result(): Quality {
    const share = (count: number, of = this.guaranteed) => (of === 0 ? 0 : +(count / of).toFixed(3));
    return {
      guaranteed: this.guaranteed,
      cpusOnOneNode: share(this.cpusOnOneNode),
      cpusAndMemoryOnOneNode: share(this.bothOnOneNode),
      wholeCores: share(this.wholeCores),
      wholeCoresWhenEven: share(this.wholeEven, this.even),
    };
  }
}

/** Runs admissions then churn through the engine and through the baseline. */
function benchTopology(name: string, topology: Topology) {
  const policy = defaultPolicy;
  const nextRequest = workload(topology, 42);
  const pick = seededRandom(7);
  const requests: ContainerRequest[] = [];
  const latenciesNs: number[] = [];
  const cpuUs: number[] = [];
  /** Runs one decision, recording its wall time and the CPU time the process spent on it. */
  const timed = <T>(decide: () => T): T => {
    const cpuStart = process.cpuUsage();
    const start = process.hrtime.bigint();
    const result = decide();
    latenciesNs.push(Number(process.hrtime.bigint() - start));
    const cpu = process.cpuUsage(cpuStart);
    cpuUs.push(cpu.user + cpu.system);
    return result;
  };
  let heapPeak = 0;
  let allocations: Allocations = new Map();
  let rejected = 0;
  const engineQuality = new QualityTally(topology);
  const baselineQuality = new QualityTally(topology);
  const baseline = new FirstFitBaseline(topology);
  const live: string[] = [];

  const admit = (id: string, request: ContainerRequest) => {
    const result = timed(() => placeContainer(topology, policy, allocations, id, request));
    if (!result.ok) {
      rejected++;
    } else {
      allocations = result.decision.allocations;
      live.push(id);
      if (result.decision.allocation.pool === 'exclusive') engineQuality.add(result.decision.allocation.cpus, result.decision.allocation.mems);
    }
    const exclusive = request.qos === 'Guaranteed' && request.cpuRequestMilli % 1000 === 0;
    const fallback = exclusive ? baseline.admitExclusive(id, request.cpuRequestMilli / 1000) : null;
    if (fallback !== null) baselineQuality.add(fallback.cpus, fallback.mems);
  };
  const release = (id: string) => {
    allocations = timed(() => releaseContainer(topology, policy, allocations, id)).allocations;
    baseline.release(id);
  };

  const started = process.hrtime.bigint();
  for (let index = 0; index < admitted; index++) {
    const request = nextRequest();
    requests.push(request);
    admit(`c${index}`, request);
    if (index % 100 === 0) heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
  }
  for (let step = 0; step < churnSteps; step++) {
    const [victim] = live.splice(Math.floor(pick() * live.length), 1);
    if (victim !== undefined) release(victim);
    admit(`churn${step}`, nextRequest());
    if (step % 100 === 0) heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
  }
  const totalNs = latenciesNs.reduce((sum, value) => sum + value, 0);
  const totalCpuUs = cpuUs.reduce((sum, value) => sum + value, 0);
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  const sorted = [...latenciesNs].sort((a, b) => a - b);
  return {
    cpus: topology.online.size,
    nodes: topology.nodes.length,
    decisions: latenciesNs.length,
    rejected,
    p50Us: +(percentile(sorted, 0.5) / 1000).toFixed(1),
    p99Us: +(percentile(sorted, 0.99) / 1000).toFixed(1),
    maxUs: +(sorted.at(-1)! / 1000).toFixed(1),
    decisionsPerSecond: Math.round(latenciesNs.length / (totalNs / 1e9)),
    /** The same from the CPU time the process spent per decision: what a quiet machine would show. */
    cpuTime: {
      p50Us: percentile(cpuUs, 0.5),
      p99Us: percentile(cpuUs, 0.99),
      decisionsPerSecond: Math.round(cpuUs.length / (totalCpuUs / 1e6)),
    },
    wallMs: Math.round(wallMs),
    heapPeakMiB: +(heapPeak / 1024 ** 2).toFixed(1),
    quality: { engine: engineQuality.result(), firstFitBaseline: baselineQuality.result() },
  };
}

const results: Record<string, unknown> = {};
const fourSocket = 'intel-xeon-4s-18c-ht';
if (existsSync(join(sharedFixturesDir, `${fourSocket}.tar.gz`))) {
  results[fourSocket] = benchTopology(fourSocket, discoverTopologySync(await unpackSharedFixture(fourSocket)));
} else {
  results[fourSocket] = { skipped: `${sharedFixturesDir}/${fourSocket}.tar.gz is absent (the shared dumps are not beside the repository)` };
}
results[twoSocket448.name] = benchTopology(twoSocket448.name, discoverTopologySync(generateSysfsTree(twoSocket448).root));

const measured = Object.values(results).filter((result): result is ReturnType<typeof benchTopology> => 'p99Us' in (result as object));
const targets = { p99Us: 1000, decisionsPerSecond: 10000 };
const summary = {
  bench: 'placement',
  admitted,
  churnSteps,
  targets,
  meetsTargets: measured.every((result) => result.p99Us <= targets.p99Us && result.decisionsPerSecond >= targets.decisionsPerSecond),
  peakRssMiB: +(process.resourceUsage().maxRSS / 1024).toFixed(1),
  /** Wall-clock latencies on a shared machine include time spent waiting for a CPU. */
  loadAverage1m: +loadavg()[0]!.toFixed(1),
  cpuCount: availableParallelism(),
  results,
};

for (const [name, result] of Object.entries(results)) {
  if (!('p99Us' in (result as object))) {
    console.log(`${name}: skipped: ${(result as { skipped: string }).skipped}`);
    continue;
  }
  const r = result as ReturnType<typeof benchTopology>;
  console.log(
    `${name} (${r.cpus} CPUs, ${r.nodes} nodes): ${r.decisions} decisions, wall p50 ${r.p50Us} µs, p99 ${r.p99Us} µs, ` +
      `${r.decisionsPerSecond}/s; CPU time p50 ${r.cpuTime.p50Us} µs, p99 ${r.cpuTime.p99Us} µs, ${r.cpuTime.decisionsPerSecond}/s; ` +
      `heap peak ${r.heapPeakMiB} MiB`,
  );
  const { engine, firstFitBaseline } = r.quality;
  console.log(
    `  Guaranteed on one node (CPUs and memory): engine ${engine.cpusAndMemoryOnOneNode}, first-fit ${firstFitBaseline.cpusAndMemoryOnOneNode}; ` +
      `whole cores: engine ${engine.wholeCores} (${engine.wholeCoresWhenEven} of even sizes), ` +
      `first-fit ${firstFitBaseline.wholeCores} (${firstFitBaseline.wholeCoresWhenEven})`,
  );
}
console.log(JSON.stringify(summary));
