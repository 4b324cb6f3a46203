// Pure parts of the native wrappers: migration pacing and page outcomes, eBPF count decoding and
// keying, the addon's "what to do" messages, and the capabilities table.
import t, { type Test } from 'tap';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { execFile } from 'node:child_process';
import { explainLoadFailure } from '../../src/monitor/addon.js';
import type { Capabilities } from '../../src/monitor/capabilities.js';
import { formatCapabilities } from '../../src/monitor/capabilities-format.js';
import { errnoName, nameFailures } from '../../src/monitor/migration-pacing.js';
import { cpuToNodeOf, decodeCounts, discoverCgroupKeying } from '../../src/monitor/numa-programs.js';
import { CpuSet } from '../../src/topology/cpuset.js';
import type { Topology } from '../../src/topology/types.js';

const run = promisify(execFile);

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'cri-rebalancer-monitor-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('page outcomes by errno name', async (t) => {
  t.same(nameFailures({ '13': 1, '0': 2, '2': 3 }), { EACCES: 1, ENOTMOVED: 2, ENOENT: 3 });
  t.same(nameFailures({}), {});
  t.equal(errnoName(2), 'ENOENT');
  t.equal(errnoName(99999), 'E99999');
});

t.test('eBPF counts decode per cgroup id in numa_events.h order', async (t) => {
  const counts = decodeCounts(BigUint64Array.from([42n, 7n]), BigUint64Array.from([1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 10n, 0n, 0n, 0n, 0n, 0n, 0n, 0n]));
  t.same(counts.get(42n), {
    taskMigrations: 1,
    crossNodeMigrations: 2,
    numaMoves: 3,
    numaSwaps: 4,
    numaSticks: 5,
    numaCpusetSkips: 6,
    pagesMigrated: 7,
    pagesMigrationFailed: 8,
  });
  t.equal(counts.get(7n)?.taskMigrations, 10);
});

t.test('cpuToNode from a topology; CPUs not online are -1', async (t) => {
  const cpu = (id: number, nodeId: number) => [id, { id, nodeId, packageId: 0, dieId: 0, clusterId: -1, coreId: id, threadSiblings: CpuSet.of([id]) }] as const;
  const topology = { cpus: new Map([cpu(0, 0), cpu(1, 1), cpu(3, 1)]) } as unknown as Topology;
  t.same(cpuToNodeOf(topology), [0, 1, -1, 1]);
});

t.test('cgroup keying follows the mounted hierarchies', async (t) => {
  const hybrid = tempDir(t);
  mkdirSync(join(hybrid, 'memory'));
  writeFileSync(join(hybrid, 'memory', 'cgroup.procs'), '');
  t.equal(discoverCgroupKeying(hybrid), 'v1-memory');
  const unified = tempDir(t);
  writeFileSync(join(unified, 'cgroup.controllers'), 'cpuset memory\n');
  t.equal(discoverCgroupKeying(unified), 'v2');
});

t.test('the addon says what to do when it cannot load', async (t) => {
  t.match(explainLoadFailure(['/x/cri_rebalancer.node'], undefined), /not built \(looked for \/x\/cri_rebalancer.node\): run `npm rebuild`/u);
  t.match(explainLoadFailure([], new Error('was compiled against a different Node.js version using NODE_MODULE_VERSION 115')), /built for another Node.js than v\d+.*npm rebuild/u);
  t.match(explainLoadFailure([], new Error('libbpf.so.1: cannot open shared object file: No such file or directory')), /shared library that is missing.*libbpf1/u);
  t.match(explainLoadFailure([], 'odd'), /failed to load: odd; rebuild/u);

  // In a process of its own: the addon is loaded once per process, and this one may have it.
  const module = (path: string): string => JSON.stringify(new URL(path, import.meta.url).href);
  const script = `
    const { addonStatus, loadAddon } = await import(${module('../../src/monitor/addon.js')});
    const { loadNumaPrograms } = await import(${module('../../src/monitor/numa-programs.js')});
    let thrown = null;
    try { loadAddon(); } catch (error) { thrown = { name: error.name, code: error.code }; }
    console.log(JSON.stringify({ status: addonStatus(), thrown, programs: await loadNumaPrograms({ cpuToNode: [0] }) }));`;
  const missing = join(tempDir(t), 'missing.node');
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, CRI_REBALANCER_ADDON: missing } });
  const seen = JSON.parse(stdout) as Record<string, unknown>;
  t.match(seen.status, { loaded: false, error: /not built/u });
  t.match(seen.thrown, { name: 'AddonUnavailableError', code: 'ERR_ADDON_UNAVAILABLE' });
  t.match(seen.programs, { available: false, reason: /not built.*npm rebuild/u }, 'eBPF degrades to a reason');
});

t.test('the capabilities table', async (t) => {
  const capabilities: Capabilities = {
    addon: { available: true },
    cpu: { vendor: 'amd', family: 25, model: 17, modelName: 'AMD EPYC' },
    hardwareEvents: {
      available: false,
      reason: 'no hardware PMU',
      dramGeneration: 'AMD Zen',
      events: { 'remote-dram': { available: false, source: 'ls_dmnd_fills_from_sys.dram_io_far', reason: 'ENOENT' } },
    },
    softwareEvents: { available: true, events: { 'task-clock': { available: true, source: 'PERF_COUNT_SW_TASK_CLOCK' } } },
    perCgroupCounting: { available: true, cgroup2Root: '/sys/fs/cgroup/unified' },
    ebpf: { available: true, attached: ['sched_migrate_task'], skipped: ['sched_skip_cpuset_numa: no such tracepoint'], keying: 'v1-memory' },
    resctrl: { available: false, reason: 'no resctrl', localBytes: false, totalBytes: false, numRmids: null },
    pageMigration: { available: true, nodes: 2 },
  };
  const table = formatCapabilities(capabilities);
  t.match(table, /^CPU: AMD EPYC \(amd, family 25, model 17\)$/mu);
  t.match(table, /^hardware events +no +AMD Zen — no hardware PMU$/mu);
  t.match(table, /^ {2}remote-dram +no +ls_dmnd_fills_from_sys.dram_io_far — ENOENT$/mu);
  t.match(table, /^eBPF NUMA events +yes +keyed by v1-memory cgroup; sched_migrate_task$/mu);
  t.match(table, /^ {2}skipped +no +sched_skip_cpuset_numa: no such tracepoint$/mu);
  t.match(table, /^resctrl bandwidth +no +no resctrl$/mu);
  t.match(table, /^page migration +yes +2 NUMA node\(s\)$/mu);
  t.match(formatCapabilities({ ...capabilities, ebpf: { available: false, reason: 'EPERM', attached: [], skipped: [], keying: 'v2' } }), /^eBPF NUMA events +no +EPERM$/mu);
});
