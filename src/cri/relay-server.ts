// The relay's listening side: accepts kubelet's connections on the unix socket, pairs each with a
// runtime connection of its own (src/cri/relay-connection.ts), and closes gracefully.
import { chmod } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { GrpcStatus } from './grpc-status.js';
import { prepareSocketPath } from './listen-socket.js';
import { RelayConnection } from './relay-connection.js';
import { RelayListenError, type Relay, type RelayOptions } from './relay.js';

const defaultCloseTimeoutMs = 10_000;

export async function createRelayServer(options: RelayOptions): Promise<Relay> {
  const { listenPath, upstreamPath, logger } = options;
  const connections = new Set<RelayConnection>();
  const connectionOptions = {
    upstreamPath,
    interceptors: options.interceptors ?? new Map(),
    logger,
    observe: options.observe,
    ended: (connection: RelayConnection) => connections.delete(connection),
  };
  let closing = false;

  const state = await prepareSocketPath(listenPath);
  if (state === 'live') {
    throw new RelayListenError(
      'socket-in-use',
      `another process is serving ${listenPath}; stop it (or choose another --listen path) before starting cri-rebalancer`,
    );
  }
  if (state === 'not-a-socket') {
    throw new RelayListenError('not-a-socket', `${listenPath} exists and is not a socket; remove it or choose another --listen path`);
  }
  if (state === 'stale') logger?.info({ path: listenPath }, 'replaced a stale socket left by a previous run');

  const server = createServer((socket: Socket) => {
    if (closing) {
      socket.destroy();
      return;
    }
    connections.add(new RelayConnection(socket, connectionOptions));
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => reject(new RelayListenError('listen-failed', `cannot listen on ${listenPath}: ${error.message}`));
    server.once('error', onError);
    server.listen(listenPath, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (error: Error) => logger?.error({ err: error.message }, 'relay server error'));
  await chmod(listenPath, options.socketMode ?? 0o660);
  logger?.info({ listen: listenPath, runtime: upstreamPath }, 'CRI relay listening');

  const inFlight = (): number => {
    let calls = 0;
    for (const connection of connections) calls += connection.inFlight;
    return calls;
  };

  const close = async (closeOptions?: { readonly timeoutMs?: number }): Promise<void> => {
    if (closing) return;
    closing = true;
    const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const connection of connections) connection.shutdown();
    const deadline = Date.now() + (closeOptions?.timeoutMs ?? defaultCloseTimeoutMs);
    while (inFlight() > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    for (const connection of connections) connection.destroy({ code: GrpcStatus.UNAVAILABLE, message: 'cri-rebalancer shut down before the call finished; retry' });
    await serverClosed;
    logger?.info({ listen: listenPath }, 'CRI relay closed');
  };

  return {
    listenPath,
    upstreamPath,
    get inFlight() {
      return inFlight();
    },
    close,
  };
}
