// Asking the running daemon over its control socket (what `status` and `explain` do).
import { connect } from 'node:net';
import { defaultPolicy } from '../config/defaults.js';
import { formatPolicyErrors, loadPolicyFile } from '../config/load.js';
import type { ControlRequest, ControlResponse } from './protocol.js';

export const defaultControlTimeoutMs = 10_000;

function describeConnectError(path: string, error: NodeJS.ErrnoException): string {
  if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') {
    return `no daemon answers on ${path}: start it with \`cri-rebalancer run\`, or pass --control-socket with the path it uses`;
  }
  if (error.code === 'EACCES' || error.code === 'EPERM') return `permission denied on ${path}: the control socket is root-only; run as root`;
  return `cannot reach the daemon on ${path}: ${error.message}`;
}

export function requestControl(path: string, request: ControlRequest, timeoutMs = defaultControlTimeoutMs): Promise<ControlResponse> {
  return new Promise((resolve) => {
    const socket = connect(path);
    let received = '';
    let settled = false;
    const settle = (response: ControlResponse): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(response);
    };
    socket.setEncoding('utf8');
    socket.setTimeout(timeoutMs, () => settle({ ok: false, error: `the daemon on ${path} did not answer within ${timeoutMs} ms` }));
    socket.on('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on('data', (chunk: string) => {
      received += chunk;
    });
    socket.on('error', (error: NodeJS.ErrnoException) => settle({ ok: false, error: describeConnectError(path, error) }));
    socket.on('end', () => {
      try {
        settle(JSON.parse(received) as ControlResponse);
      } catch {
        settle({ ok: false, error: `the daemon on ${path} sent an answer that is not JSON` });
      }
    });
  });
}

/** The control socket a command should use: --control-socket, else the policy file's, else the default. */
export async function resolveControlSocket(flag: string | undefined, policyFile: string | undefined): Promise<{ ok: true; path: string } | { ok: false; error: string }> {
  if (flag !== undefined) return { ok: true, path: flag };
  if (policyFile === undefined) return { ok: true, path: defaultPolicy.listen.controlSocket };
  const loaded = await loadPolicyFile(policyFile);
  return loaded.ok ? { ok: true, path: loaded.policy.listen.controlSocket } : { ok: false, error: formatPolicyErrors(loaded.errors) };
}
