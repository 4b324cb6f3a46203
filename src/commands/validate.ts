import type { Command } from '../cli.js';

export const command: Command = {
  usage: 'usage: cri-rebalancer validate',
  async run() {
    process.stderr.write('cri-rebalancer validate: not implemented yet\n');
    return 1;
  },
};
