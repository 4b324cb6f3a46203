import type { Command } from '../cli.js';

export const command: Command = {
  usage: 'usage: cri-rebalancer run',
  async run() {
    process.stderr.write('cri-rebalancer run: not implemented yet\n');
    return 1;
  },
};
