// Pure readers of the monitor: memory.numa_stat (v1 and v2), numa_maps and maps, the perf event
// table per CPU, and resctrl bandwidth monitoring on fixture trees shaped like /sys/fs/resctrl.
import t, { type Test } from 'tap';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { anonBytesByNode, parseNumaStat, readContainerNumaStat } from '../../src/monitor/numa-stat.js';
import { parseNumaMaps, parseProcMaps, readContainerNumaMaps, selectPrivateWritable, sumNumaMapsByNode } from '../../src/monitor/numa-maps.js';
import { parseCpuInfo, planEventEncodings } from '../../src/monitor/perf-events.js';
import {
  counterDelta,
  createMonitoringGroup,
  describeResctrl,
  discoverResctrl,
  mbmTraffic,
  parseMbmValue,
  readMbm,
  removeMonitoringGroup,
} from '../../src/monitor/resctrl.js';
import { repoRoot } from '../helpers/paths.js';

const resctrlFixtures = join(repoRoot, 'test', 'fixtures', 'resctrl');

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'cri-rebalancer-monitor-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('memory.numa_stat', async (t) => {
  t.test('cgroup v1: pages per node, hierarchical lines included', async (t) => {
    const stat = parseNumaStat(
      'total=300 N0=100 N1=200\nfile=50 N0=50 N1=0\nanon=250 N0=50 N1=200\nunevictable=0 N0=0 N1=0\nhierarchical_total=600 N0=200 N1=400\n',
      4096,
    );
    t.equal(stat.format, 'v1');
    t.same([...anonBytesByNode(stat)], [[0, 50 * 4096], [1, 200 * 4096]]);
    t.same([...(stat.byKind.get('hierarchical_total') ?? [])], [[0, 200 * 4096], [1, 400 * 4096]]);
  });
  t.test('cgroup v2: bytes per node', async (t) => {
    const stat = parseNumaStat('anon N0=409600 N1=8192\nfile N0=4096 N1=0\nkernel_stack N0=16384 N1=0\nshmem N0=0 N1=0\n');
    t.equal(stat.format, 'v2');
    t.same([...anonBytesByNode(stat)], [[0, 409600], [1, 8192]]);
    t.equal(stat.byKind.get('kernel_stack')?.get(0), 16384);
  });
  t.test('errors name the line', async (t) => {
    t.throws(() => parseNumaStat(''), { code: 'ERR_NUMA_STAT', message: /empty/u });
    t.throws(() => parseNumaStat('anon N0=1\ngarbage here'), /line 2/u);
    t.throws(() => parseNumaStat('anon N0=1\nfile=2 N0=2'), /mixes the v1 and v2/u);
  });
  t.test('no anon line: empty', async (t) => {
    t.same([...anonBytesByNode(parseNumaStat('file N0=1'))], []);
  });
  t.test('readContainerNumaStat reads the cgroup directory', async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'memory.numa_stat'), 'anon=2 N0=2\n');
    t.same([...anonBytesByNode(await readContainerNumaStat(dir, 65536))], [[0, 131072]]);
  });
});

const numaMaps = `55d0c0a00000 default file=/usr/bin/node mapped=10 mapmax=3 N0=10 kernelpagesize_kB=4
55d0c1000000 default heap anon=300 dirty=300 N0=100 N1=200 kernelpagesize_kB=4
7f0000000000 bind:1 anon=2 dirty=2 N1=2 kernelpagesize_kB=2048 huge
7ffc00000000 default stack anon=5 dirty=5 N0=5 kernelpagesize_kB=4
7ffd00000000 default
`;

t.test('numa_maps', async (t) => {
  const entries = parseNumaMaps(numaMaps);
  t.equal(entries.length, 5);
  t.match(entries[0], { address: 0x55d0c0a00000, policy: 'default', file: '/usr/bin/node', kind: 'other', anonPages: 0 });
  t.match(entries[1], { kind: 'heap', anonPages: 300, dirtyPages: 300, pageSizeBytes: 4096 });
  t.match(entries[2], { policy: 'bind:1', kind: 'huge', pageSizeBytes: 2 << 20 });
  t.equal(entries[3]?.kind, 'stack');
  const usage = sumNumaMapsByNode(entries);
  t.same([...usage.pagesByNode], [[0, 115], [1, 202]]);
  t.same([...usage.bytesByNode], [[0, 115 * 4096], [1, 200 * 4096 + 2 * (2 << 20)]]);

  const proc = tempDir(t);
  for (const pid of [10, 11]) {
    mkdirSync(join(proc, String(pid)));
    writeFileSync(join(proc, String(pid), 'numa_maps'), numaMaps);
  }
  const container = await readContainerNumaMaps([10, 11, 12], proc);
  t.equal(container.pagesByNode.get(1), 404, 'summed over the processes; pid 12 exited and is skipped');
  mkdirSync(join(proc, '13', 'numa_maps'), { recursive: true });
  await t.rejects(readContainerNumaMaps([13], proc), { code: 'EISDIR' }, 'other errors are not hidden');
});

t.test('maps: private writable ranges are the migratable ones', async (t) => {
  const ranges = parseProcMaps(`55d0c0a00000-55d0c0a10000 r-xp 00000000 08:01 123 /usr/bin/node
55d0c1000000-55d0c1400000 rw-p 00000000 00:00 0 [heap]
7f0000000000-7f0000200000 rw-s 00000000 00:05 77 /dev/shm/x
7f0000400000-7f0000600000 rw-p 00000000 00:00 0
not a maps line
`);
  t.equal(ranges.length, 4);
  t.same(
    selectPrivateWritable(ranges).map((range) => [range.start, range.end, range.path]),
    [
      [0x55d0c1000000, 0x55d0c1400000, '[heap]'],
      [0x7f0000400000, 0x7f0000600000, ''],
    ],
  );
});

t.test('perf events per CPU vendor and model', async (t) => {
  const epyc = parseCpuInfo('processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\nmodel name\t: AMD EPYC 9654\n');
  t.same(epyc, { vendor: 'amd', family: 25, model: 17, modelName: 'AMD EPYC 9654' });
  const zen = planEventEncodings(epyc);
  t.equal(zen.dramGeneration, 'AMD Zen');
  t.match(zen.encodings.get('local-dram'), { type: 4, config: 0x0843n });
  t.match(zen.encodings.get('remote-dram'), { type: 4, config: 0x4043n });
  t.match(zen.encodings.get('task-clock'), { type: 1, config: 1n });
  t.match(zen.encodings.get('cycles'), { type: 0, config: 0n });

  const skylake = planEventEncodings(parseCpuInfo('vendor_id : GenuineIntel\ncpu family : 6\nmodel : 85\nmodel name : Intel(R) Xeon(R) Gold 6132\n'));
  t.match(skylake.encodings.get('local-dram'), { config: 0x01d3n, source: /LOCAL_DRAM/u });
  t.match(skylake.encodings.get('remote-dram'), { config: 0x02d3n, source: /REMOTE_DRAM/u });
  t.match(skylake.encodings.get('remote-dram-offcore'), { config: 0x01b7n, config1: 0x638000001n, source: /config1 0x638000001/u });
  const sapphire = planEventEncodings(parseCpuInfo('vendor_id : GenuineIntel\ncpu family : 6\nmodel : 143\n'));
  t.match(sapphire.encodings.get('remote-dram-offcore'), { config: 0x012an, config1: 0x730000001n });
  t.match(planEventEncodings(parseCpuInfo('vendor_id : GenuineIntel\ncpu family : 6\nmodel : 106\n')).encodings.get('remote-dram-offcore'), { config: 0x01b7n, config1: 0x730000001n });
  t.match(zen.missing.get('remote-dram-offcore'), /AMD Zen has no remote-dram-offcore event/u);
  const broadwell = planEventEncodings(parseCpuInfo('vendor_id : GenuineIntel\ncpu family : 6\nmodel : 79\n'));
  t.match(broadwell.encodings.get('remote-dram'), { config: 0x04d3n });

  const arm = planEventEncodings(parseCpuInfo('processor : 0\nCPU implementer : 0x41\nCPU architecture: 8\nCPU part : 0xd0c\n'));
  t.match(arm.encodings.get('remote-dram'), { config: 0x31n, source: /REMOTE_ACCESS/u });
  t.match(arm.missing.get('local-dram'), /Arm PMUv3 has no local-dram event/u);

  const desktop = parseCpuInfo('vendor_id : GenuineIntel\ncpu family : 6\nmodel : 154\n');
  t.equal(desktop.modelName, 'unknown');
  const none = planEventEncodings(desktop);
  t.match(none.missing.get('remote-dram'), /no DRAM locality event is known for intel family 6 model 154/u);
  t.equal(none.dramGeneration, undefined);
  t.equal(parseCpuInfo('').vendor, 'other');
});

t.test('resctrl', async (t) => {
  t.test('capability: mounted with MBM, without MBM, not mounted, not supported', async (t) => {
    const procFilesystems = join(tempDir(t), 'filesystems');
    writeFileSync(procFilesystems, 'nodev\tsysfs\nnodev\tresctrl\n');
    t.match(await discoverResctrl(join(resctrlFixtures, 'mbm'), procFilesystems), { available: true, localBytes: true, totalBytes: true, numRmids: 4 });
    t.match(await discoverResctrl(join(resctrlFixtures, 'no-mbm'), procFilesystems), { available: false, reason: /no memory-bandwidth monitoring \(mon_features: llc_occupancy\)/u });
    t.match(await discoverResctrl(join(resctrlFixtures, 'absent'), procFilesystems), { available: false, reason: /not mounted.*mount -t resctrl/u });
    t.match(await discoverResctrl(join(resctrlFixtures, 'absent'), join(resctrlFixtures, 'absent')), { available: false, reason: /no resctrl/u });
    t.match(describeResctrl({ supported: true, mounted: true, monFeatures: [], numRmids: null }, '/r'), { reason: /mon_features: none/u });
  });

  t.test('reading a group: local, total, remote = total - local, unavailable domains', async (t) => {
    const root = join(tempDir(t), 'resctrl');
    cpSync(join(resctrlFixtures, 'mbm'), root, { recursive: true });
    const group = join(root, 'mon_groups', 'pod-a');
    const before = await readMbm(group);
    t.same([...before.keys()], ['mon_L3_00', 'mon_L3_01']);
    t.same(before.get('mon_L3_00'), { totalBytes: 1000000n, localBytes: 600000n });
    t.same(before.get('mon_L3_01'), { totalBytes: 5000n, localBytes: null });
    writeFileSync(join(group, 'mon_data', 'mon_L3_00', 'mbm_total_bytes'), '1500000\n');
    writeFileSync(join(group, 'mon_data', 'mon_L3_00', 'mbm_local_bytes'), '700000\n');
    const traffic = mbmTraffic(before, await readMbm(group));
    t.same(traffic, { totalBytes: 500000, localBytes: 100000, remoteBytes: 400000, unavailableDomains: ['mon_L3_01'] });
    t.same(mbmTraffic(new Map(), before).unavailableDomains, ['mon_L3_00', 'mon_L3_01'], 'a first sample has no previous one');
  });

  t.test('counters that wrap, and a local counter above total', async (t) => {
    t.equal(counterDelta(10n, 25n, 1n << 24n), 15n);
    t.equal(counterDelta((1n << 24n) - 10n, 5n, 1n << 24n), 15n);
    const previous = new Map([['mon_L3_00', { totalBytes: (1n << 64n) - 100n, localBytes: 50n }]]);
    const current = new Map([['mon_L3_00', { totalBytes: 100n, localBytes: 400n }]]);
    t.same(mbmTraffic(previous, current), { totalBytes: 200, localBytes: 350, remoteBytes: 0, unavailableDomains: [] });
  });

  t.test('values the kernel cannot give', async (t) => {
    t.equal(parseMbmValue('Unavailable\n'), null);
    t.equal(parseMbmValue('Error'), null);
    t.equal(parseMbmValue('42\n'), 42n);
  });

  t.test('monitoring groups: create, add tasks, remove; RMID exhaustion is a reason', async (t) => {
    const root = join(tempDir(t), 'resctrl');
    cpSync(join(resctrlFixtures, 'mbm'), root, { recursive: true });
    const created = await createMonitoringGroup(root, 'pod-b', [201, 202]);
    t.same(created, { available: true, dir: join(root, 'mon_groups', 'pod-b') });
    t.equal(readFileSync(join(root, 'mon_groups', 'pod-b', 'tasks'), 'utf8'), '201\n202\n', 'one task id per write');
    t.match(await createMonitoringGroup(root, 'pod-b', []), { available: true }, 'an existing group is reused');
    await removeMonitoringGroup(root, '..');
    rmSync(join(root, 'mon_groups', 'pod-b', 'tasks'));
    await removeMonitoringGroup(root, 'pod-b');
    t.match(await createMonitoringGroup(root, '../escape', []), { available: false, reason: /invalid monitoring group name/u });
    const enospc = async () => {
      throw Object.assign(new Error('No space left on device'), { code: 'ENOSPC' });
    };
    t.match(await createMonitoringGroup(root, 'pod-c', [], enospc), {
      available: false,
      reason: /no free RMID.*has 4, all in use.*remove unused groups/u,
    });
    const eacces = async () => {
      throw Object.assign(new Error('permission denied'), { code: 'EACCES' });
    };
    t.match(await createMonitoringGroup(root, 'pod-c', [], eacces), { available: false, reason: /cannot create .*permission denied/u });
    await t.rejects(createMonitoringGroup(join(root, 'missing'), 'pod-d', [1], async () => undefined), { code: 'ENOENT' }, 'a tasks write that fails is not hidden');
  });
});
