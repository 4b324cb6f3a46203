// The NUMA machines the VM suite emulates, as plain data: the QEMU command line is formatted
// from it on the host, and the guest checks the topology it discovers against the same object
// (written to the results folder as layout.json), so the two can never disagree.

/** Guest checks the host can ask for; each is one top-level test of the guest suite. */
export type GuestCheck =
  | 'topology'
  | 'cgroup-migration'
  | 'addon-migration'
  | 'addon-migration-thp'
  | 'addon-migration-cancel'
  | 'ebpf-migrations'
  | 'bench-migration';

export interface GuestNode {
  readonly cpus: readonly number[];
  readonly memoryMiB: number;
}

export interface GuestLayout {
  readonly name: string;
  readonly sockets: number;
  readonly coresPerSocket: number;
  readonly nodes: readonly GuestNode[];
  /** SLIT distances, row per node; 10 on the diagonal. */
  readonly distances: readonly (readonly number[])[];
  readonly checks: readonly GuestCheck[];
}

/** Two sockets, one node each: the machine the migration checks and the benchmark run on. */
export const twoNodeLayout: GuestLayout = {
  name: 'two-node',
  sockets: 2,
  coresPerSocket: 2,
  nodes: [
    { cpus: [0, 1], memoryMiB: 1024 },
    { cpus: [2, 3], memoryMiB: 1024 },
  ],
  distances: [
    [10, 21],
    [21, 10],
  ],
  checks: ['topology', 'cgroup-migration', 'addon-migration', 'addon-migration-thp', 'addon-migration-cancel', 'ebpf-migrations', 'bench-migration'],
};

/** Four nodes with near (16) and far (32) pairs: discovery of uneven distances, a far move. */
export const fourNodeLayout: GuestLayout = {
  name: 'four-node',
  sockets: 4,
  coresPerSocket: 1,
  nodes: [
    { cpus: [0], memoryMiB: 512 },
    { cpus: [1], memoryMiB: 512 },
    { cpus: [2], memoryMiB: 512 },
    { cpus: [3], memoryMiB: 512 },
  ],
  distances: [
    [10, 16, 32, 32],
    [16, 10, 32, 32],
    [32, 32, 10, 16],
    [32, 32, 16, 10],
  ],
  checks: ['topology', 'cgroup-migration'],
};

function formatCpuRange(cpus: readonly number[]): string {
  const first = cpus[0];
  const last = cpus[cpus.length - 1];
  return first === last ? `${first}` : `${first}-${last}`;
}

/** QEMU's -smp, -m, memory backends, -numa node and -numa dist arguments for a layout. */
export function formatQemuNumaArgs(layout: GuestLayout): string[] {
  const cpuCount = layout.nodes.reduce((sum, node) => sum + node.cpus.length, 0);
  const memoryMiB = layout.nodes.reduce((sum, node) => sum + node.memoryMiB, 0);
  const args = ['-smp', `${cpuCount},sockets=${layout.sockets},cores=${layout.coresPerSocket},threads=1`, '-m', `${memoryMiB}M`];
  layout.nodes.forEach((node, id) => {
    args.push('-object', `memory-backend-ram,id=m${id},size=${node.memoryMiB}M`);
    args.push('-numa', `node,nodeid=${id},cpus=${formatCpuRange(node.cpus)},memdev=m${id}`);
  });
  layout.distances.forEach((row, src) => {
    row.forEach((distance, dst) => {
      if (dst > src) args.push('-numa', `dist,src=${src},dst=${dst},val=${distance}`);
    });
  });
  return args;
}
