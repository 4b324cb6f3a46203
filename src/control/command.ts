// What `status` and `explain` share: their options, finding the control socket, asking the
// daemon, and printing the answer as text or JSON. Exit 0; 1 when the daemon cannot answer; 2 for
// bad usage.
import { parseArgs } from 'node:util';
import { requestControl, resolveControlSocket } from './client.js';
import type { ControlRequest } from './protocol.js';

export const controlOptionsUsage = `  --json                 print the report as JSON
  --control-socket PATH  the daemon's control socket (default: the policy's listen.controlSocket)
  --policy FILE          read the control socket path from this policy file`;

export interface ControlCommand {
  readonly name: string;
  readonly usage: string;
  /** The request from the positional arguments, or null when they are wrong. */
  readonly request: (positionals: readonly string[]) => ControlRequest | null;
  readonly format: (result: unknown) => string;
}

export async function runControlCommand(spec: ControlCommand, args: readonly string[]): Promise<number> {
  const fail = (problem: string, code: number, withUsage: boolean): number => {
    process.stderr.write(`cri-rebalancer ${spec.name}: ${problem}\n${withUsage ? `\n${spec.usage}\n` : ''}`);
    return code;
  };
  let values: { json?: boolean; 'control-socket'?: string; policy?: string };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...args],
      options: { json: { type: 'boolean' }, 'control-socket': { type: 'string' }, policy: { type: 'string' } },
      strict: true,
      allowPositionals: true,
    }));
  } catch (error) {
    return fail((error as Error).message, 2, true);
  }
  const request = spec.request(positionals);
  if (request === null) return fail('wrong arguments', 2, true);
  const socket = await resolveControlSocket(values['control-socket'], values.policy);
  if (!socket.ok) return fail(socket.error, 1, false);
  const response = await requestControl(socket.path, request);
  if (!response.ok) return fail(response.error, 1, false);
  process.stdout.write(values.json === true ? `${JSON.stringify(response.result, null, 2)}\n` : spec.format(response.result));
  return 0;
}
