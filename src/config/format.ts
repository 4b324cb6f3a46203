// Policy → YAML text, as `validate --print` shows the effective configuration. The output is a
// valid policy file itself: parsing it gives back the same policy.
import { stringify } from 'yaml';
import { formatSocketMode } from './schema.js';
import type { ListenPolicy, Policy } from './types.js';

/** The policy as the file writes it: the socket mode as octal text ("0660"), not a number. */
export type PolicyDocument = Omit<Policy, 'listen'> & { readonly listen: Omit<ListenPolicy, 'socketMode'> & { readonly socketMode: string } };

export function formatPolicyDocument(policy: Policy): PolicyDocument {
  return { ...policy, listen: { ...policy.listen, socketMode: formatSocketMode(policy.listen.socketMode) } };
}

export function formatPolicyYaml(policy: Policy): string {
  return stringify(formatPolicyDocument(policy), { lineWidth: 0 });
}
