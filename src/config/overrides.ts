// Command-line flags that override the policy's sockets and directories (`run --listen` and
// friends). They pass through the same schema as the file, so a bad flag is refused with the
// same words, naming the flag.
import { formatPolicyDocument, type PolicyDocument } from './format.js';
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

/** The policy with the given flags applied, or one error per bad flag (or conflict they cause). */
export function applyPolicyOverrides(policy: Policy, overrides: PolicyOverrides): PolicyResult {
  const document = formatPolicyDocument(policy);
  const overridden: PolicyDocument = {
    ...document,
    runtime: { endpoint: overrides.runtimeEndpoint ?? document.runtime.endpoint },
    listen: {
      ...document.listen,
      socket: overrides.listen ?? document.listen.socket,
      controlSocket: overrides.controlSocket ?? document.listen.controlSocket,
    },
    stateDir: overrides.stateDir ?? document.stateDir,
  };
  const result = policySchema.safeParse(overridden);
  if (result.success) return { ok: true, policy: result.data };
  const errors = result.error.issues.map((issue): PolicyError => {
    const key = issue.path.join('.');
    const override = flags[key];
    const path = override !== undefined && overrides[override.option] !== undefined ? override.flag : key;
    return { source: 'command line', line: null, column: null, path, message: issue.message };
  });
  return { ok: false, errors };
}
