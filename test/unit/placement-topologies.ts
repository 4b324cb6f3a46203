// What the placement tests share: topologies discovered from the project's generated specs and
// from the shared dumps of real machines, policies with a few keys changed, and requests.
import { defaultPolicy } from '../../src/config/defaults.js';
import type { Policy } from '../../src/config/types.js';
import type { ContainerRequest } from '../../src/placement/types.js';
import { discoverTopologySync } from '../../src/topology/discover.js';
import type { Topology } from '../../src/topology/types.js';
import type { TopologySpec } from '../fixtures/spec.js';
import { hasSharedFixtures } from '../helpers/paths.js';
import { generateSysfsTree, unpackSharedFixture } from '../helpers/sysfs-fixtures.js';

const generated = new Map<string, Topology>();

/** The topology discovered from a generated spec's sysfs tree (once per process). */
export function specTopology(spec: TopologySpec): Topology {
  let topology = generated.get(spec.name);
  if (topology === undefined) {
    topology = discoverTopologySync(generateSysfsTree(spec).root);
    generated.set(spec.name, topology);
  }
  return topology;
}

/** A shared real dump's topology, or null when ../shared/fixtures/sysfs is absent. */
export async function dumpTopology(name: string): Promise<Topology | null> {
  if (!hasSharedFixtures) return null;
  return discoverTopologySync(await unpackSharedFixture(name));
}

export const noSharedDumps = hasSharedFixtures ? false : 'the shared sysfs dumps (../shared/fixtures/sysfs) are absent';

export interface PolicyChanges {
  reserved?: Partial<Policy['reserved']>;
  placement?: Partial<Policy['placement']>;
  annotations?: Partial<Policy['annotations']>;
}

export function policyWith(changes: PolicyChanges = {}): Policy {
  return {
    ...defaultPolicy,
    reserved: { ...defaultPolicy.reserved, ...changes.reserved },
    placement: { ...defaultPolicy.placement, ...changes.placement },
    annotations: { ...defaultPolicy.annotations, ...changes.annotations },
  };
}

/** A Guaranteed request for `cpus` CPUs (fractions allowed), unless the fields say otherwise. */
export function guaranteed(cpus: number, fields: Partial<ContainerRequest> = {}): ContainerRequest {
  const milli = Math.round(cpus * 1000);
  return request({ qos: 'Guaranteed', cpuRequestMilli: milli, cpuLimitMilli: milli, memoryLimitBytes: 1024 ** 3, ...fields });
}

export function request(fields: Partial<ContainerRequest> = {}): ContainerRequest {
  return {
    pod: 'pod',
    namespace: 'default',
    container: 'app',
    qos: 'BestEffort',
    cpuRequestMilli: 0,
    cpuLimitMilli: null,
    memoryLimitBytes: null,
    annotations: {},
    ...fields,
  };
}
