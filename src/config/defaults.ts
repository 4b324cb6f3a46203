// The policy in force for every key the file leaves out. Documented key by key in
// examples/policy.yaml; keep the two in step.
import type { Policy } from './types.js';

export const defaultPolicy: Policy = {
  runtime: { endpoint: null },
  listen: {
    socket: '/run/cri-rebalancer/cri-rebalancer.sock',
    controlSocket: '/run/cri-rebalancer/control.sock',
    socketMode: 0o660,
  },
  stateDir: '/var/lib/cri-rebalancer',
  reserved: { cpus: null, count: 0, namespaces: ['kube-system'] },
  placement: {
    exclusiveCpus: true,
    preferWholeCores: true,
    minSharedCpusPerNode: 0,
    pinSharedToNode: true,
    memoryOnlyNodes: false,
    onInsufficient: 'reject',
  },
  annotations: { isolatedCpusNamespaces: [], memoryOnlyNodesNamespaces: [] },
  logLevel: 'info',
};
