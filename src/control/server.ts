// The control socket: a unix socket only root can use (mode 0600) where `status` and `explain`
// ask the running daemon. A stale socket from a dead daemon is replaced; a live one is an error.
import { chmod, unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { prepareSocketPath } from '../cri/listen-socket.js';
import { maxRequestBytes, parseControlRequest, type ControlRequest, type ControlResponse } from './protocol.js';

export type ControlHandler = (request: ControlRequest) => ControlResponse | Promise<ControlResponse>;

export interface ControlServer {
  readonly path: string;
  close(): Promise<void>;
}

const idleTimeoutMs = 10_000;

function serve(socket: Socket, handler: ControlHandler): void {
  let buffered = '';
  let answered = false;
  const reply = (response: ControlResponse): void => {
    if (answered) return;
    answered = true;
    socket.end(`${JSON.stringify(response)}\n`);
  };
  socket.setEncoding('utf8');
  socket.setTimeout(idleTimeoutMs, () => socket.destroy());
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: string) => {
    if (answered) return;
    buffered += chunk;
    const end = buffered.indexOf('\n');
    if (end < 0) {
      if (buffered.length > maxRequestBytes) reply({ ok: false, error: `request longer than ${maxRequestBytes} bytes` });
      return;
    }
    const parsed = parseControlRequest(buffered.slice(0, end));
    if (!parsed.ok) return reply({ ok: false, error: parsed.error });
    Promise.resolve()
      .then(() => handler(parsed.request))
      .then(reply, (error: unknown) => reply({ ok: false, error: `the daemon failed to answer: ${(error as Error).message}` }));
  });
}

export async function startControlServer(path: string, handler: ControlHandler): Promise<ControlServer> {
  const state = await prepareSocketPath(path);
  if (state === 'live') throw new Error(`another process serves the control socket ${path}: stop that daemon first, or pass --control-socket with another path`);
  if (state === 'not-a-socket') throw new Error(`${path} exists and is not a socket: remove it, or pass --control-socket with another path`);
  const server: Server = createServer((socket) => serve(socket, handler));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await chmod(path, 0o600);
  return {
    path,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        unlink(path).catch(() => undefined);
      }),
  };
}
