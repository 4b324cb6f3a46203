// `cri-rebalancer plan --pods FILE [--sysfs ROOT] [--policy FILE] [--json]`: the placement the
// daemon's engine would give a list of pods, admitted in order, without any runtime.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { Command } from '../cli.js';
import { defaultPolicy } from '../config/defaults.js';
import { formatPolicyErrors, loadPolicyFile } from '../config/load.js';
import { formatPodsFileErrors, parsePodsFile } from '../k8s/pods.js';
import { formatPlan, planPods } from '../placement/plan.js';
import { discoverTopology, TopologyError } from '../topology/discover.js';

const usage = `usage: cri-rebalancer plan --pods FILE [--sysfs ROOT] [--policy FILE] [--json]

Shows where the placement engine would put each container of a list of pods, admitted in order:
CPUs, memory nodes, pool (reserved, exclusive, isolated, shared) and the reasons.

options:
  --pods FILE    YAML list of pods: - {name, namespace, annotations?, containers:
                 [{name, resources: {requests: {cpu, memory}, limits: {cpu, memory}}}]}
  --sysfs ROOT   the sysfs root to read the topology from (default /sys)
  --policy FILE  the policy file (default: the built-in defaults)
  --json         print {placements, rejected, sharedPool} as JSON instead of a table

exit status: 0 planned (rejections included), 1 the topology cannot be read, 2 bad arguments
or a malformed pods or policy file`;

export interface Output {
  stdout(text: string): void;
  stderr(text: string): void;
}

const processOutput: Output = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

export async function runPlan(args: readonly string[], output: Output = processOutput): Promise<number> {
  const fail = (message: string, code: number): number => {
    output.stderr(`cri-rebalancer plan: ${message}\n`);
    return code;
  };
  let values: { pods?: string; sysfs: string; policy?: string; json: boolean };
  try {
    values = parseArgs({
      args: [...args],
      options: {
        pods: { type: 'string' },
        sysfs: { type: 'string', default: '/sys' },
        policy: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    return fail(`${(error as Error).message}\n\n${usage}`, 2);
  }
  if (values.pods === undefined) return fail(`--pods FILE is required\n\n${usage}`, 2);

  let policy = defaultPolicy;
  if (values.policy !== undefined) {
    const loaded = await loadPolicyFile(values.policy);
    if (!loaded.ok) return fail(`invalid policy:\n${formatPolicyErrors(loaded.errors)}`, 2);
    policy = loaded.policy;
  }
  let text: string;
  try {
    text = await readFile(values.pods, 'utf8');
  } catch (error) {
    return fail(`cannot read the pods file ${values.pods}: ${(error as Error).message}; check the path`, 2);
  }
  const pods = parsePodsFile(text);
  if (!pods.ok) return fail(`malformed pods file:\n${formatPodsFileErrors(values.pods, pods.errors)}`, 2);

  let topology;
  try {
    topology = await discoverTopology(values.sysfs);
  } catch (error) {
    if (!(error instanceof TopologyError)) throw error;
    return fail(error.message, 1);
  }
  const plan = planPods(topology, policy, pods.pods);
  output.stdout(values.json ? `${JSON.stringify(plan, null, 2)}\n` : `${formatPlan(plan)}\n`);
  return 0;
}

export const command: Command = { usage, run: (args) => runPlan(args) };
