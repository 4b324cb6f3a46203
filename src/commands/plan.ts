import type { Command } from '../cli.js';

export const command: Command = {
  usage: 'usage: cri-rebalancer plan',
  async run() {
    process.stderr.write('cri-rebalancer plan: not implemented yet\n');
    return 1;
  },
};
