import type { Command } from '../cli.js';

export const command: Command = {
  usage: 'usage: cri-rebalancer explain',
  async run() {
    process.stderr.write('cri-rebalancer explain: not implemented yet\n');
    return 1;
  },
};
