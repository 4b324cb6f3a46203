// `cri-rebalancer topology [--sysfs ROOT] [--json]`: the topology discovered from sysfs.
import { parseArgs } from 'node:util';
import type { Command } from '../cli.js';
import { discoverTopology, TopologyError } from '../topology/discover.js';
import { formatTopologyJson, formatTopologyText } from '../topology/format.js';

const usage = `usage: cri-rebalancer topology [--sysfs ROOT] [--json]

Shows the CPU and NUMA topology discovered from sysfs: sockets, dies, NUMA nodes, caches, cores
and their threads, memory sizes, memory-only nodes, isolated and offline CPUs.

options:
  --sysfs ROOT  the sysfs root to read (default /sys); ROOT/devices/system/cpu must exist
  --json        print one JSON object instead of the tree`;

export const command: Command = {
  usage,
  async run(args) {
    let options: { sysfs: string; json: boolean };
    try {
      const { values } = parseArgs({
        args: [...args],
        options: { sysfs: { type: 'string', default: '/sys' }, json: { type: 'boolean', default: false } },
        strict: true,
        allowPositionals: false,
      });
      options = { sysfs: values.sysfs, json: values.json };
    } catch (error) {
      process.stderr.write(`cri-rebalancer topology: ${(error as Error).message}\n\n${usage}\n`);
      return 2;
    }
    try {
      const topology = await discoverTopology(options.sysfs);
      process.stdout.write(
        options.json ? `${JSON.stringify(formatTopologyJson(topology), null, 2)}\n` : formatTopologyText(topology),
      );
      return 0;
    } catch (error) {
      if (!(error instanceof TopologyError)) throw error;
      process.stderr.write(`cri-rebalancer topology: ${error.message}\n`);
      return 1;
    }
  },
};
