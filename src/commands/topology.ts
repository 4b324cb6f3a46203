import type { Command } from '../cli.js';

export const command: Command = {
  usage: 'usage: cri-rebalancer topology',
  async run() {
    process.stderr.write('cri-rebalancer topology: not implemented yet\n');
    return 1;
  },
};
