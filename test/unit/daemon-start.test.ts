import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { startDaemon } from '../../src/main.js';
import { daemonNodeFlags, missingNodeFlags } from '../../src/node-flags.js';
import { capturingStderr } from '../helpers/daemon-fakes.js';

t.test('the systemd unit runs the daemon with its Node flags, and this Node takes them', async (t) => {
  const execStart = /^ExecStart=\/usr\/bin\/node (.*) \/opt\/cri-rebalancer\/bin\/cri-rebalancer\.js run /mu.exec(readFileSync('examples/cri-rebalancer.service', 'utf8'));
  t.same(execStart?.[1]?.split(' '), daemonNodeFlags);
  const node = spawnSync(process.execPath, [...daemonNodeFlags, '-e', ''], { encoding: 'utf8' });
  t.equal(node.status, 0, node.stderr);
  t.same(missingNodeFlags([]), daemonNodeFlags, 'a Node started without them lacks them all');
  t.same(missingNodeFlags(['--enable-source-maps', ...daemonNodeFlags]), [], 'and none when it has them');
});

t.test('flags go through the policy schema before anything starts: a bad one is named', async (t) => {
  const started = await capturingStderr(() =>
    startDaemon({ policyFile: null, overrides: { stateDir: 'state', listen: '/run/x.sock', controlSocket: '/run/x.sock' }, sysfsRoot: '/nonexistent', rebuildState: false }),
  );
  t.equal(started.result, 1);
  t.match(started.stderr, /^cri-rebalancer run: invalid command-line flags:\n/);
  t.match(started.stderr, /command line: --state-dir: must be an absolute path/);
  t.match(started.stderr, /command line: --control-socket: must differ from listen\.socket/);
  t.notMatch(started.stderr, /CPU topology/, 'refused before the machine is read');
});
