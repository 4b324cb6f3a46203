// Where the runtime's CRI socket is: the configured endpoint, checked, or the first standard
// socket that exists (containerd's, then CRI-O's).
import { lstat } from 'node:fs/promises';
import { isAbsolute, normalize } from 'node:path';

export interface RuntimeSocket {
  readonly runtime: 'containerd' | 'cri-o' | 'configured';
  readonly path: string;
}

export const standardRuntimeSockets: readonly RuntimeSocket[] = [
  { runtime: 'containerd', path: '/run/containerd/containerd.sock' },
  { runtime: 'cri-o', path: '/var/run/crio/crio.sock' },
];

/** sun_path holds 108 bytes including the terminating NUL. */
const maxSocketPathBytes = 107;

export type EndpointResult =
  | { readonly ok: true; readonly socket: RuntimeSocket }
  | { readonly ok: false; readonly reason: 'invalid-endpoint' | 'not-found' | 'loop'; readonly message: string };

function endpointProblem(value: string, path: string): string | null {
  if (value.includes('://') && !value.startsWith('unix://')) return 'only unix sockets are supported (unix:///path or /path)';
  if (path.includes('\0')) return 'it contains a NUL byte';
  if (!isAbsolute(path)) return 'it is not an absolute path';
  const normalized = normalize(path).replace(/(.)\/$/u, '$1');
  if (normalized !== path) return `it is not a normalized path (did you mean ${normalized}?)`;
  if (Buffer.byteLength(path) > maxSocketPathBytes) return `it is longer than the ${maxSocketPathBytes} bytes a unix socket path may have`;
  return null;
}

/** Reads `unix:///path` or `/path`: absolute, normalized, no NUL, short enough for a unix socket. */
export function parseEndpoint(value: string): { ok: true; path: string } | { ok: false; message: string } {
  const path = value.startsWith('unix://') ? value.slice('unix://'.length) : value;
  const problem = endpointProblem(value, path);
  if (problem !== null) return { ok: false, message: `invalid runtime endpoint "${value}": ${problem}` };
  return { ok: true, path };
}

/** Whether `path` is a socket; injectable so the choice can be tested without the real files. */
export type SocketCheck = (path: string) => Promise<boolean>;

export const isSocketFile: SocketCheck = async (path) => {
  try {
    return (await lstat(path)).isSocket();
  } catch {
    return false;
  }
};

/**
 * The runtime socket to relay to: `configured` when set (validated, not required to exist yet:
 * the relay answers UNAVAILABLE until it does), else the first standard socket that exists.
 * Never the relay's own listening socket.
 */
export async function discoverRuntimeEndpoint(
  configured: string | null,
  listenPath: string,
  isSocket: SocketCheck = isSocketFile,
): Promise<EndpointResult> {
  if (configured !== null) {
    const parsed = parseEndpoint(configured);
    if (!parsed.ok) return { ok: false, reason: 'invalid-endpoint', message: `${parsed.message}; fix runtime.endpoint or --runtime-endpoint` };
    if (parsed.path === listenPath) {
      return { ok: false, reason: 'loop', message: `the runtime endpoint ${parsed.path} is cri-rebalancer's own socket; point it at containerd's or CRI-O's socket` };
    }
    return { ok: true, socket: { runtime: 'configured', path: parsed.path } };
  }
  for (const candidate of standardRuntimeSockets) {
    if (candidate.path !== listenPath && (await isSocket(candidate.path))) return { ok: true, socket: candidate };
  }
  return {
    ok: false,
    reason: 'not-found',
    message: `no container runtime socket found (tried ${standardRuntimeSockets.map((s) => s.path).join(', ')}); start containerd or CRI-O, or set runtime.endpoint / --runtime-endpoint`,
  };
}
