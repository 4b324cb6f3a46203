// `cri-rebalancer capabilities [--json]`: what this machine lets the daemon sense and do.
import { parseArgs } from 'node:util';
import type { Command } from '../cli.js';
import { discoverCapabilities } from '../monitor/capabilities.js';
import { formatCapabilities } from '../monitor/capabilities-format.js';

const usage = `usage: cri-rebalancer capabilities [--json]

Shows what this machine lets the daemon sense and do, and why not where it cannot: hardware and
software perf events (with this CPU's local/remote DRAM events), per-cgroup counting, the eBPF
NUMA event programs, resctrl memory-bandwidth monitoring and page migration. Run it as root: most
probes need it.

options:
  --json  print one JSON object instead of the table`;

export const command: Command = {
  usage,
  async run(args) {
    let json: boolean;
    try {
      ({ values: { json } } = parseArgs({ args: [...args], options: { json: { type: 'boolean', default: false } }, strict: true }));
    } catch (error) {
      process.stderr.write(`cri-rebalancer capabilities: ${(error as Error).message}\n\n${usage}\n`);
      return 2;
    }
    const capabilities = await discoverCapabilities();
    process.stdout.write(json ? `${JSON.stringify(capabilities, null, 2)}\n` : formatCapabilities(capabilities));
    return 0;
  },
};
