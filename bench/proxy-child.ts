// A process of the proxy benchmarks: the no-op backend, the relay, or a byte pipe, each alone in
// its process so its CPU time can be read and it does not share an event loop with the callers.
//   node out/bench-proxy/bench/proxy-child.js backend SOCKET         (bench/proxy.ts compiles it)
//   node out/bench-proxy/bench/proxy-child.js relay LISTEN UPSTREAM
//   node out/bench-proxy/bench/proxy-child.js pipe LISTEN UPSTREAM   bytes copied both ways, never
//                                                                    read: what one more process on
//                                                                    the path costs at the least
// Tells the parent "ready" over IPC; answers "cpu" with process.cpuUsage(); exits on "stop".
import { connect, createServer, type Socket } from 'node:net';
import { rm } from 'node:fs/promises';
import { startNoopBackend } from '../test/helpers/noop-cri-backend.js';
import { defineInterceptor, runtimeMethods, startRelay } from '../src/cri/relay.js';

const [role, first, second] = process.argv.slice(2);

async function start(): Promise<() => Promise<void>> {
  if (role === 'backend' && first !== undefined) {
    const backend = await startNoopBackend(first);
    return () => backend.close();
  }
  if (role === 'relay' && first !== undefined && second !== undefined) {
    // CreateContainer goes through a pass-through interceptor: the decode/encode path's cost.
    const interceptors = new Map([defineInterceptor(runtimeMethods.CreateContainer, (request) => ({ forward: request }))]);
    const relay = await startRelay({ listenPath: first, upstreamPath: second, interceptors });
    return () => relay.close({ timeoutMs: 1000 });
  }
  if (role === 'pipe' && first !== undefined && second !== undefined) return startPipe(first, second);
  throw new Error('usage: proxy-child.ts backend SOCKET | relay LISTEN UPSTREAM | pipe LISTEN UPSTREAM');
}

async function startPipe(listenPath: string, upstreamPath: string): Promise<() => Promise<void>> {
  await rm(listenPath, { force: true });
  const sockets = new Set<Socket>();
  const server = createServer((downstream) => {
    const upstream = connect(upstreamPath);
    for (const socket of [downstream, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        sockets.delete(socket);
        downstream.destroy();
        upstream.destroy();
      });
    }
    downstream.pipe(upstream);
    upstream.pipe(downstream);
  });
  await new Promise<void>((resolve) => server.listen(listenPath, resolve));
  return () =>
    new Promise((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
}

const stop = await start();
process.on('message', (message) => {
  if (message === 'cpu') process.send?.({ cpu: process.cpuUsage() });
  if (message === 'stop') void stop().then(() => process.exit(0));
});
process.send?.('ready');
