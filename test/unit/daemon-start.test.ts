import t from 'tap';
import { startDaemon } from '../../src/main.js';
import { capturingStderr } from '../helpers/daemon-fakes.js';

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
