import type { Command } from '../cli.js';

export const command: Command = {
  usage: 'usage: cri-rebalancer capabilities',
  async run() {
    process.stderr.write('cri-rebalancer capabilities: not implemented yet\n');
    return 1;
  },
};
