// `cri-rebalancer explain CONTAINER [--json] [--control-socket PATH] [--policy FILE]`: why the
// running daemon placed a container where it is, and every change since.
import type { Command } from '../cli.js';
import { controlOptionsUsage, runControlCommand } from '../control/command.js';
import { formatExplain } from '../control/format.js';
import type { ExplainReport } from '../control/report.js';

const usage = `usage: cri-rebalancer explain CONTAINER [--json] [--control-socket PATH] [--policy FILE]

Shows why the running daemon placed a container where it runs: its pool, CPUs, memory nodes and
the rules that decided, then its history (admitted, adopted, updated, moved, released).
CONTAINER is a container id or id prefix, a container name, or POD/CONTAINER.

options:
${controlOptionsUsage}`;

export const command: Command = {
  usage,
  run: (args) =>
    runControlCommand(
      {
        name: 'explain',
        usage,
        request: ([container, ...extra]) => (container !== undefined && extra.length === 0 ? { command: 'explain', container } : null),
        format: (result) => formatExplain(result as ExplainReport),
      },
      args,
    ),
};
