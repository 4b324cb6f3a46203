// The relay's HTTP/2 server: listens on the unix socket, routes each call to the byte-exact relay
// or to its interceptor, and closes gracefully.
import { chmod } from 'node:fs/promises';
import { createServer, type Http2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { GrpcStatus } from './grpc-status.js';
import { prepareSocketPath } from './listen-socket.js';
import { RelayListenError, type Relay, type RelayOptions } from './relay.js';
import { RelayCall, type RelayCallHooks } from './relay-call.js';
import { relayIntercepted } from './relay-intercept.js';
import { relayStream } from './relay-stream.js';
import { http2Settings, UpstreamConnection } from './upstream.js';

const defaultCloseTimeoutMs = 10_000;

export async function createRelayServer(options: RelayOptions): Promise<Relay> {
  const { listenPath, upstreamPath, logger } = options;
  const interceptors = options.interceptors ?? new Map();
  const upstream = new UpstreamConnection(upstreamPath);
  const sessions = new Set<Http2Session>();
  const calls = new Set<RelayCall>();
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

  const hooks: RelayCallHooks = { observe: options.observe, closed: (call) => calls.delete(call) };

  const server = createServer({ settings: http2Settings });
  server.on('session', (session: Http2Session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
    session.on('error', (error: Error) => logger?.debug({ err: error.message }, 'client connection error'));
  });
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    stream.on('error', (error: Error) => logger?.debug({ method: headers[':path'], err: error.message }, 'caller stream error'));
    const interceptor = interceptors.get(headers[':path'] ?? '');
    const call = new RelayCall(stream, headers, upstream, logger, interceptor !== undefined, hooks);
    calls.add(call);
    if (closing) {
      call.abort({ code: GrpcStatus.UNAVAILABLE, message: 'cri-rebalancer is shutting down; retry' });
      return;
    }
    if (interceptor === undefined) {
      relayStream(call);
      return;
    }
    relayIntercepted(call, interceptor).catch((error: unknown) => {
      logger?.error({ method: call.method, err: (error as Error).message }, 'intercepted call failed');
      call.abort({ code: GrpcStatus.INTERNAL, message: `cri-rebalancer failed on ${call.method}: ${(error as Error).message}` });
    });
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

  const close = async (closeOptions?: { readonly timeoutMs?: number }): Promise<void> => {
    if (closing) return;
    closing = true;
    const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const session of sessions) session.close();
    const deadline = Date.now() + (closeOptions?.timeoutMs ?? defaultCloseTimeoutMs);
    while (calls.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    for (const call of calls) call.abort({ code: GrpcStatus.UNAVAILABLE, message: 'cri-rebalancer shut down before the call finished; retry' });
    for (const session of sessions) session.destroy();
    await serverClosed;
    await upstream.close();
    logger?.info({ listen: listenPath }, 'CRI relay closed');
  };

  return {
    listenPath,
    upstreamPath,
    get inFlight() {
      return calls.size;
    },
    close,
  };
}
