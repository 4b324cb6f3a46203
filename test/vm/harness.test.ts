// The VM harness's pure pieces, checked without booting anything: the QEMU NUMA arguments, the
// module load order, and the reading of the guest's TAP.
import t from 'tap';
import { orderModules } from './guest-image.js';
import { formatQemuNumaArgs, fourNodeLayout, twoNodeLayout } from './guest-layout.js';
import { parseGuestTap } from './guest-tap.js';

t.test('formatQemuNumaArgs describes sockets, node memory, CPUs and one distance per pair', async (t) => {
  t.same(formatQemuNumaArgs(twoNodeLayout), [
    '-smp', '4,sockets=2,cores=2,threads=1', '-m', '2048M',
    '-object', 'memory-backend-ram,id=m0,size=1024M', '-numa', 'node,nodeid=0,cpus=0-1,memdev=m0',
    '-object', 'memory-backend-ram,id=m1,size=1024M', '-numa', 'node,nodeid=1,cpus=2-3,memdev=m1',
    '-numa', 'dist,src=0,dst=1,val=21',
  ]);
  const fourNode = formatQemuNumaArgs(fourNodeLayout);
  t.ok(fourNode.includes('node,nodeid=3,cpus=3,memdev=m3'));
  t.same(fourNode.filter((arg) => arg.startsWith('dist,')), [
    'dist,src=0,dst=1,val=16', 'dist,src=0,dst=2,val=32', 'dist,src=0,dst=3,val=32',
    'dist,src=1,dst=2,val=32', 'dist,src=1,dst=3,val=32', 'dist,src=2,dst=3,val=16',
  ]);
});

t.test('layouts are consistent: a square symmetric distance table, CPUs in socket order', async (t) => {
  for (const layout of [twoNodeLayout, fourNodeLayout]) {
    t.equal(layout.distances.length, layout.nodes.length, layout.name);
    layout.distances.forEach((row, src) => {
      t.equal(row[src], 10, `${layout.name} local distance of node ${src}`);
      row.forEach((distance, dst) => t.equal(layout.distances[dst]?.[src], distance, `${layout.name} ${src}↔${dst}`));
    });
    t.same(layout.nodes.flatMap((node) => node.cpus), [0, 1, 2, 3], `${layout.name} CPUs`);
  }
});

t.test('orderModules puts every dependency before its users, each once', async (t) => {
  const depends: Record<string, string[]> = {
    '9p': ['9pnet', 'fscache', 'netfs'],
    fscache: ['netfs'],
    '9pnet_virtio': ['virtio', '9pnet', 'virtio_ring'],
    virtio_pci: ['virtio_ring', 'virtio_pci_modern_dev', 'virtio'],
  };
  t.same(orderModules(['virtio_pci', '9pnet_virtio', '9p'], (name) => depends[name] ?? []), [
    'virtio_ring', 'virtio_pci_modern_dev', 'virtio', 'virtio_pci', '9pnet', '9pnet_virtio', 'netfs', 'fscache', '9p',
  ]);
});

t.test('parseGuestTap reads top-level results with their skip reasons and diagnostics', async (t) => {
  const tap = [
    'TAP version 13',
    '# Subtest: topology',
    'ok 1 - topology',
    '  ---',
    '  duration_ms: 12.5',
    '  ...',
    'not ok 2 - addon-migration',
    '  ---',
    "  error: 'no batch sized past the budget'",
    '  ...',
    'ok 3 - ebpf-migrations # SKIP the native addon does not load',
    '    ok 1 - nested result',
    '1..3',
  ].join('\n');
  t.same(parseGuestTap(tap), [
    { name: 'topology', outcome: 'pass', reason: '', diagnostics: '  ---\n  duration_ms: 12.5\n  ...' },
    { name: 'addon-migration', outcome: 'fail', reason: '', diagnostics: "  ---\n  error: 'no batch sized past the budget'\n  ..." },
    { name: 'ebpf-migrations', outcome: 'skip', reason: 'the native addon does not load', diagnostics: '' },
  ]);
  t.same(parseGuestTap('garbage\n'), []);
});
