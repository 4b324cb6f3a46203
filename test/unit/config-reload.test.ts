import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, Subject, timeout } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import t from 'tap';
import { defaultPolicy } from '../../src/config/defaults.js';
import { applyPolicyOverrides } from '../../src/config/overrides.js';
import { diffPolicies, reloadPolicy, watchPolicyFile, type WatchDirectory } from '../../src/config/reload.js';

function tempDir(t: { teardown(cleanup: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'config-reload-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('a valid file replaces the policy and says what changed', async (t) => {
  const file = join(tempDir(t), 'policy.yaml');
  writeFileSync(file, 'logLevel: debug\nlisten:\n  socket: /run/other.sock\n');
  const result = await reloadPolicy(file, defaultPolicy);
  t.match(result, { ok: true, policy: { logLevel: 'debug', listen: { socket: '/run/other.sock' } } });
  t.same(result.ok && result.changedKeys, ['listen.socket', 'logLevel']);
  t.same(result.ok && result.restartKeys, ['listen.socket'], 'sockets are bound once: a restart applies them');

  writeFileSync(file, '# the defaults\n');
  t.match(await reloadPolicy(file, defaultPolicy), { ok: true, changedKeys: [], restartKeys: [] });
});

t.test('an invalid or missing file keeps the policy in force, with the errors', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, 'logLevel: info\nplacement:\n  exclusiveCPUs: false\n');
  const result = await reloadPolicy(file, defaultPolicy);
  t.equal(result.policy, defaultPolicy, 'the very same policy object');
  t.match(result, { ok: false, errors: [{ source: file, line: 3, column: 3, path: 'placement.exclusiveCPUs', message: /did you mean "exclusiveCpus"/u }] });

  const missing = await reloadPolicy(join(dir, 'gone.yaml'), defaultPolicy);
  t.equal(missing.policy, defaultPolicy);
  t.match(missing, { ok: false, errors: [{ line: null, message: 'no such file; check the path' }] });
});

t.test('command-line overrides pass the same checks and are applied again on reload', async (t) => {
  const overrides = { listen: '/run/test/cri.sock', controlSocket: '/run/test/control.sock', stateDir: '/tmp/state', runtimeEndpoint: 'unix:///run/test/containerd.sock' };
  const applied = applyPolicyOverrides(defaultPolicy, overrides);
  t.match(applied, {
    ok: true,
    policy: { runtime: { endpoint: '/run/test/containerd.sock' }, listen: { socket: '/run/test/cri.sock', controlSocket: '/run/test/control.sock', socketMode: 0o660 }, stateDir: '/tmp/state' },
  });
  t.same(applyPolicyOverrides(defaultPolicy, {}), { ok: true, policy: defaultPolicy });
  t.match(applyPolicyOverrides(defaultPolicy, { stateDir: 'relative', runtimeEndpoint: 'tcp://x:1' }), {
    ok: false,
    errors: [
      { source: 'command line', line: null, path: '--runtime-endpoint', message: /only unix sockets/u },
      { source: 'command line', line: null, path: '--state-dir', message: /absolute path/u },
    ],
  });
  t.match(applyPolicyOverrides(defaultPolicy, { listen: defaultPolicy.listen.controlSocket }), {
    ok: false,
    errors: [{ path: 'listen.controlSocket', message: /must differ from listen.socket/u }],
  }, 'a conflict with a key the flags did not set names that key');

  const file = join(tempDir(t), 'policy.yaml');
  writeFileSync(file, 'logLevel: warn\n');
  if (!applied.ok) throw new Error('overrides refused');
  t.match(await reloadPolicy(file, applied.policy, overrides), { ok: true, changedKeys: ['logLevel'], restartKeys: [], policy: { stateDir: '/tmp/state' } });
});

t.test('diffPolicies compares lists by value', async (t) => {
  const policy = { ...defaultPolicy, reserved: { ...defaultPolicy.reserved, namespaces: ['kube-system'] } };
  t.same(diffPolicies(defaultPolicy, policy), []);
  t.same(diffPolicies(defaultPolicy, { ...policy, reserved: { ...policy.reserved, namespaces: ['x'] } }), ['reserved.namespaces']);
});

/** A directory watcher driven by a test: each value pushed is one change event. */
function fakeWatcher() {
  const events = new Subject<string | null>();
  const state = { directory: '', closed: false };
  const watchDirectory: WatchDirectory = (directory, onChange, onError) => {
    state.directory = directory;
    const subscription = events.subscribe({ next: onChange, error: onError });
    return { close: () => { state.closed = true; subscription.unsubscribe(); } };
  };
  return { events, state, watchDirectory };
}

t.test('changes are debounced on virtual time; other files in the directory are ignored', async (t) => {
  const scheduler = new TestScheduler((actual, expected) => t.same(actual, expected));
  const fake = fakeWatcher();
  scheduler.run(({ hot, expectObservable }) => {
    // The file twice in a burst, an unrelated file, the file again, then a ConfigMap swap.
    hot('a 99ms a 99ms b 1000ms a 600ms c', { a: 'policy.yaml', b: 'policy.yaml.swp', c: '..data' }).subscribe(fake.events);
    const reloads = watchPolicyFile('/etc/cri-rebalancer/policy.yaml', { debounceMs: 500, scheduler, watchDirectory: fake.watchDirectory });
    expectObservable(reloads, '^ 3000ms !').toBe('600ms x 1100ms x 600ms x', { x: undefined });
  });
  t.equal(fake.state.directory, '/etc/cri-rebalancer', 'watches the directory, not the file');
  t.ok(fake.state.closed, 'unsubscribing closes the watcher');
});

t.test('an event without a file name requests a reload; a watcher error ends the stream', async (t) => {
  const scheduler = new TestScheduler((actual, expected) => t.same(actual, expected));
  const fake = fakeWatcher();
  scheduler.run(({ hot, expectObservable }) => {
    hot('n 10ms #', { n: null }, new Error('watch failed')).subscribe(fake.events);
    expectObservable(watchPolicyFile('/etc/p.yaml', { debounceMs: 5, scheduler, watchDirectory: fake.watchDirectory })).toBe(
      '5ms x 5ms #',
      { x: undefined },
      new Error('watch failed'),
    );
  });
});

t.test('the real watcher sees a file replaced by rename', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, 'logLevel: info\n');
  const reload = firstValueFrom(watchPolicyFile(file, { debounceMs: 20 }).pipe(timeout(5000)));
  writeFileSync(join(dir, 'policy.yaml.new'), 'logLevel: debug\n');
  renameSync(join(dir, 'policy.yaml.new'), file);
  t.equal(await reload, undefined, 'one reload request');
  t.match(await reloadPolicy(file, defaultPolicy), { ok: true, changedKeys: ['logLevel'] });
});

t.test('the real watcher fails when the directory does not exist', async (t) => {
  const missing = join(tempDir(t), 'gone', 'policy.yaml');
  await t.rejects(firstValueFrom(watchPolicyFile(missing)), { code: 'ENOENT' });
});
