// A process of the proxy benchmark: the no-op backend or the relay, each alone in its process so
// the relay's CPU time can be read and the two do not share an event loop with the callers.
//   node out/bench-proxy/bench/proxy-child.js backend SOCKET         (bench/proxy.ts compiles it)
//   node out/bench-proxy/bench/proxy-child.js relay LISTEN UPSTREAM
// Tells the parent "ready" over IPC; answers "cpu" with process.cpuUsage(); exits on "stop".
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
  throw new Error('usage: proxy-child.ts backend SOCKET | relay LISTEN UPSTREAM');
}

const stop = await start();
process.on('message', (message) => {
  if (message === 'cpu') process.send?.({ cpu: process.cpuUsage() });
  if (message === 'stop') void stop().then(() => process.exit(0));
});
process.send?.('ready');
