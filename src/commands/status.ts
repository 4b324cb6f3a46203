import type { Command } from '../cli.js';

export const command: Command = {
  usage: 'usage: cri-rebalancer status',
  async run() {
    process.stderr.write('cri-rebalancer status: not implemented yet\n');
    return 1;
  },
};
