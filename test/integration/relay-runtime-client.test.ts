// The daemon's runtime client against the no-op backend, directly and through the relay.
import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNoopBackend } from '../helpers/noop-cri-backend.js';
import { RuntimeClient } from '../../src/cri/runtime-client.js';
import { runtimeMethods, startRelay } from '../../src/cri/relay.js';

t.test('runtime client', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cri-client-'));
  const backend = await startNoopBackend(join(dir, 'runtime.sock'));
  const relay = await startRelay({ listenPath: join(dir, 'relay.sock'), upstreamPath: backend.path });
  const client = new RuntimeClient({ socketPath: relay.listenPath, timeoutMs: 300 });
  t.teardown(async () => {
    client.close();
    await relay.close({ timeoutMs: 200 });
    await backend.close();
    await rm(dir, { recursive: true, force: true });
  });

  t.match(await client.version(), { ok: true, value: { runtimeName: 'noop', runtimeApiVersion: 'v1' } });
  t.match(await client.listContainers(), { ok: true, value: { containers: [] } });
  t.match(await client.listContainers({ podSandboxId: 'abc' }), { ok: true });
  t.match(await client.listPodSandbox(), { ok: true, value: { items: [] } });
  t.match(await client.listPodSandbox({ id: 'abc' }), { ok: true });
  t.match(await client.updateContainerResources('a'.repeat(64), { cpusetCpus: '1', cpusetMems: '0' }), { ok: true });
  const update = backend.calls.at(-1)!;
  t.equal(update.path, runtimeMethods.UpdateContainerResources.path);
  t.ok(update.body.includes(Buffer.from('a'.repeat(64))), 'the update reached the runtime');

  t.match(await client.containerStatus('../../etc/passwd'), { ok: false, error: { reason: 'invalid-id', message: /invalid container id/u } });
  t.match(await client.podSandboxStatus('a/b', true), { ok: false, error: { reason: 'invalid-id', message: /invalid sandbox id/u } });
  t.match(await client.updateContainerResources('', {}), { ok: false, error: { reason: 'invalid-id' } });

  backend.hangPaths.add(runtimeMethods.PodSandboxStatus.path);
  t.match(await client.podSandboxStatus('b'.repeat(64), true), { ok: false, error: { reason: 'deadline-exceeded', message: /PodSandboxStatus on the runtime at .* failed \(DEADLINE_EXCEEDED\)/u } });

  await backend.close();
  const down = await client.containerStatus('c'.repeat(64), true);
  t.match(down, { ok: false, error: { reason: 'unavailable', message: /is not reachable/u } });
});

t.test('runtime client with nothing listening', async (t) => {
  const client = new RuntimeClient({ socketPath: join(tmpdir(), 'no-such-runtime.sock'), timeoutMs: 500 });
  t.teardown(() => client.close());
  t.match(await client.version(), { ok: false, error: { reason: 'unavailable', code: 14 } });
});
