import { defaultPolicy } from './src/config/defaults.js';
import { placeContainer, releaseContainer } from './src/placement/engine.js';
import type { Allocations, ContainerRequest } from './src/placement/types.js';
import { discoverTopologySync } from './src/topology/discover.js';
import { twoSocket448 } from './test/fixtures/specs.js';
import { generateSysfsTree } from './test/helpers/sysfs-fixtures.js';
const topo = discoverTopologySync(generateSysfsTree(twoSocket448).root);
let a: Allocations = new Map();
const stats = new Map<string, number[]>();
const rec = (k: string, us: number) => { if (!stats.has(k)) stats.set(k, []); stats.get(k)!.push(us); };
const req = (i: number): ContainerRequest => {
  const r = i % 10;
  const base = { pod: 'p' + i, namespace: 'default', container: 'c', annotations: {} };
  if (r < 2) return { ...base, qos: 'Guaranteed', cpuRequestMilli: (1 + (i % 4)) * 1000, cpuLimitMilli: (1 + (i % 4)) * 1000, memoryLimitBytes: 2 ** 30 };
  if (r < 7) return { ...base, qos: 'Burstable', cpuRequestMilli: 200, cpuLimitMilli: i % 3 === 0 ? null : 2000, memoryLimitBytes: null };
  return { ...base, qos: 'BestEffort', cpuRequestMilli: 0, cpuLimitMilli: null, memoryLimitBytes: null };
};
const live: string[] = [];
for (let i = 0; i < 6000; i++) {
  if (i >= 1000) {
    const id = live.splice((i * 7919) % live.length, 1)[0]!;
    const kind = a.get(id)!.pool;
    const s = process.cpuUsage(); const r = releaseContainer(topo, defaultPolicy, a, id); const d = process.cpuUsage(s);
    rec('release-' + kind + (r.updates.length > 0 ? '+upd' : ''), d.user + d.system); a = r.allocations;
  }
  const rq = req(i);
  const s = process.cpuUsage(); const r = placeContainer(topo, defaultPolicy, a, 'c' + i, rq); const d = process.cpuUsage(s);
  if (r.ok) { a = r.decision.allocations; live.push('c' + i); rec('place-' + r.decision.allocation.pool + (r.decision.updates.length > 0 ? '+upd' : ''), d.user + d.system); }
}
for (const [k, v] of stats) { v.sort((x, y) => x - y); console.log(k.padEnd(24), 'n', v.length, 'p50', v[v.length >> 1], 'p90', v[Math.floor(v.length * 0.9)], 'p99', v[Math.floor(v.length * 0.99)], 'mean', Math.round(v.reduce((x, y) => x + y) / v.length)); }
