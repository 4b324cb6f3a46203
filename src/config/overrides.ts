// Command-line flags that override the policy's sockets and directories (`run --listen` and
// friends). They pass through the same schema as the file, so a bad flag is refused with the
// same words, naming the flag.
import { formatPolicyDocument } from './format.js';
import type { PolicyError, PolicyResult } from './load.js';
import { policySchema } from './schema.js';
import type { Policy } from './types.js';

export interface PolicyOverrides {
  readonly runtimeEndpoint?: string | undefined;
  readonly listen?: string | undefined;
  readonly controlSocket?: string | undefined;
  readonly stateDir?: string | undefined;
}

/** The flag behind each overridable key, to name it in errors. */
const flags: Record<string, { flag: string; option: keyof PolicyOverrides }> = {
  'runtime.endpoint': { flag: '--runtime-endpoint', option: 'runtimeEndpoint' },
  'listen.socket': { flag: '--listen', option: 'listen' },
  'listen.controlSocket': { flag: '--control-socket', option: 'controlSocket' },
  stateDir: { flag: '--state-dir', option: 'stateDir' },
};

/** The policy with the given flags put in, unchecked: `applyPolicyOverrides` checks them. */
export function withOverrides(policy: Policy, overrides: PolicyOverrides): Policy {
  return {
    ...policy,
    runtime: { ...policy.runtime, endpoint: overrides.runtimeEndpoint ?? policy.runtime.endpoint },
    listen: { ...policy.listen, socket: overrides.listen ?? policy.listen.socket, controlSocket: overrides.controlSocket ?? policy.listen.controlSocket },
    stateDir: overrides.stateDir ?? policy.stateDir,
  };
}

/** The policy with the given flags applied, or one error per bad flag (or conflict they cause). */
export function applyPolicyOverrides(policy: Policy, overrides: PolicyOverrides): PolicyResult {
  const result = policySchema.safeParse(formatPolicyDocument(withOverrides(policy, overrides)));
  if (result.success) return { ok: true, policy: result.data };
  const errors = result.error.issues.map((issue): PolicyError => {
    const key = issue.path.join('.');
    const override = flags[key];
    const path = override !== undefined && overrides[override.option] !== undefined ? override.flag : key;
    return { source: 'command line', line: null, column: null, path, message: issue.message };
  });
  return { ok: false, errors };
}
