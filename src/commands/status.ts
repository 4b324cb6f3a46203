// `cri-rebalancer status [--json] [--control-socket PATH] [--policy FILE]`: every CPU's owner and
// every container's placement, from the running daemon.
import type { Command } from '../cli.js';
import { controlOptionsUsage, runControlCommand } from '../control/command.js';
import { formatStatus } from '../control/format.js';
import type { StatusReport } from '../control/report.js';

const usage = `usage: cri-rebalancer status [--json] [--control-socket PATH] [--policy FILE]

Shows the running daemon's view: the topology with every CPU's owner (reserved, isolated,
exclusive to which container, shared, free) and each container's CPUs, memory nodes, QoS class,
pool and reasons. Asks over the daemon's control socket (root only).

options:
${controlOptionsUsage}`;

export const command: Command = {
  usage,
  run: (args) =>
    runControlCommand(
      { name: 'status', usage, request: (positionals) => (positionals.length === 0 ? { command: 'status' } : null), format: (result) => formatStatus(result as StatusReport) },
      args,
    ),
};
