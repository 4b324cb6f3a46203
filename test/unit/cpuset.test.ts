import t from 'tap';
import { CpuSet } from '../../src/topology/cpuset.js';

t.test('parse and format round trip', async (t) => {
  t.equal(CpuSet.parse('0-3,8,10-11\n').format(), '0-3,8,10-11');
});
