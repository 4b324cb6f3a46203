import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { isMap, isScalar, LineCounter, parseDocument, type YAMLMap } from 'yaml';
import { defaultPolicy } from '../../src/config/defaults.js';
import { formatPolicyYaml } from '../../src/config/format.js';
import { formatPolicyErrors, loadPolicyFile, parsePolicy, type PolicyError } from '../../src/config/load.js';
import { parseSocketMode, policyKeyPaths, policyKeysAt } from '../../src/config/schema.js';
import { suggestKey } from '../../src/config/suggest.js';
import type { Policy } from '../../src/config/types.js';
import { repoRoot } from '../helpers/paths.js';

function parsed(text: string): Policy {
  const result = parsePolicy(text, 'p.yaml');
  if (!result.ok) throw new Error(`expected a valid policy:\n${formatPolicyErrors(result.errors)}`);
  return result.policy;
}

function errorsOf(text: string): PolicyError[] {
  const result = parsePolicy(text, 'p.yaml');
  if (result.ok) throw new Error('expected errors, got a valid policy');
  return [...result.errors];
}

/** "LINE:COL path" of each error, the part of an error a test can state exactly. */
function where(text: string): string[] {
  return errorsOf(text).map((error) => `${error.line}:${error.column} ${error.path}`);
}

t.test('an empty file, comments only, or empty sections give the default policy', async (t) => {
  t.same(parsed(''), defaultPolicy);
  t.same(parsed('# nothing here\n\n'), defaultPolicy);
  t.same(parsed('runtime:\nlisten:\nreserved:\nplacement:\nannotations:\n'), defaultPolicy);
  t.same(parsed('placement: {}\n'), defaultPolicy);
});

t.test('every key can be set and reads back typed', async (t) => {
  const policy = parsed(`
runtime:
  endpoint: unix:///run/containerd/containerd.sock
listen:
  socket: /run/x/cri.sock
  controlSocket: /run/x/control.sock
  socketMode: "0600"
stateDir: /srv/state
reserved:
  cpus: "3,0-1"
  namespaces: [kube-system, monitoring]
placement:
  exclusiveCpus: false
  preferWholeCores: false
  minSharedCpusPerNode: 2
  pinSharedToNode: false
  memoryOnlyNodes: true
  onInsufficient: shared
annotations:
  isolatedCpusNamespaces: ["*"]
  memoryOnlyNodesNamespaces: [hpc]
logLevel: debug
`);
  t.same(policy, {
    runtime: { endpoint: '/run/containerd/containerd.sock' },
    listen: { socket: '/run/x/cri.sock', controlSocket: '/run/x/control.sock', socketMode: 0o600 },
    stateDir: '/srv/state',
    reserved: { cpus: '0-1,3', count: 0, namespaces: ['kube-system', 'monitoring'] },
    placement: {
      exclusiveCpus: false,
      preferWholeCores: false,
      minSharedCpusPerNode: 2,
      pinSharedToNode: false,
      memoryOnlyNodes: true,
      onInsufficient: 'shared',
    },
    annotations: { isolatedCpusNamespaces: ['*'], memoryOnlyNodesNamespaces: ['hpc'] },
    logLevel: 'debug',
  });
  t.equal(parsed('reserved:\n  count: 4\n').reserved.count, 4);
  t.equal(parsed('reserved:\n  cpus: 5\n').reserved.cpus, '5', 'a lone CPU may be a number');
});

t.test('socket modes: octal text or numbers, never open to other users', async (t) => {
  const mode = (value: string) => parsed(`listen:\n  socketMode: ${value}\n`).listen.socketMode;
  t.equal(mode('"0660"'), 0o660);
  t.equal(mode('"660"'), 0o660);
  t.equal(mode('"0o600"'), 0o600);
  t.equal(mode('0o600'), 0o600, "YAML 1.2's octal");
  t.equal(mode('0660'), 0o660, 'a plain leading-zero integer is octal, as in Kubernetes manifests');
  t.equal(mode('432'), 0o660, 'a decimal number is taken as is');
  t.equal(parseSocketMode('0999'), null);

  const [open] = errorsOf('listen:\n  socketMode: "0666"\n');
  t.match(open, { line: 2, column: 15, path: 'listen.socketMode', message: /other users.*0666.*"0660" or "0600"/u });
  t.match(errorsOf('listen:\n  socketMode: 0644\n')[0]?.message, /other users access \(0644\)/u);
  t.match(errorsOf('listen:\n  socketMode: rw-rw----\n')[0]?.message, /must be a file mode such as "0660".*not "rw-rw----"/u);
  t.match(errorsOf('listen:\n  socketMode: 4095\n')[0]?.message, /must be a file mode.*not 4095/u);
  t.match(errorsOf('listen:\n  socketMode: 1.5\n')[0]?.message, /must be a file mode/u);
  t.match(errorsOf('listen:\n  socketMode: true\n')[0]?.message, /must be a file mode.*not true/u);
});

t.test('reserved CPUs: validated cpulists in canonical form', async (t) => {
  t.equal(parsed('reserved:\n  cpus: "0-3:2,1"\n').reserved.cpus, '0-2');
  t.equal(parsed('reserved:\n  cpus: null\n').reserved.cpus, null);
  t.match(errorsOf('reserved:\n  cpus: "0-x"\n'), [
    { line: 2, column: 9, path: 'reserved.cpus', message: /must be a cpulist such as "0-1,8": invalid cpulist "0-x"/u },
  ]);
  t.match(errorsOf('reserved:\n  cpus: "3-1"\n')[0]?.message, /bad range/u);
  t.match(errorsOf("reserved:\n  cpus: ''\n")[0]?.message, /must not be empty; remove the key/u);
  t.match(errorsOf('reserved:\n  cpus: [0, 1]\n')[0]?.message, /must be a cpulist such as "0-1", not a list/u);
});

t.test('each class of error names its line, column and key path', async (t) => {
  const table: Array<[string, string, RegExp]> = [
    ['placement:\n  exclusiveCpus: "yes"\n', '2:18 placement.exclusiveCpus', /must be true or false, not "yes"/u],
    ['placement:\n  exclusiveCpus:\nlogLevel: info\n', '2:17 placement.exclusiveCpus', /must be true or false, not empty/u],
    ['placement:\n  minSharedCpusPerNode: 1.5\n', '2:25 placement.minSharedCpusPerNode', /whole number, 0 or more, not 1.5/u],
    ['reserved:\n  count: -1\n', '2:10 reserved.count', /whole number, 0 or more, not -1/u],
    ['reserved:\n  count: two\n', '2:10 reserved.count', /whole number, 0 or more, not "two"/u],
    ['placement:\n  onInsufficient: drop\n', '2:19 placement.onInsufficient', /"reject" or "shared", not "drop"/u],
    ['logLevel: verbose\n', '1:11 logLevel', /one of trace, debug, info, warn, error, fatal, not "verbose"/u],
    ['stateDir: var/lib/x\n', '1:11 stateDir', /absolute path \(starting with \/\), not "var\/lib\/x"/u],
    ['stateDir: 7\n', '1:11 stateDir', /absolute path, not 7/u],
    ['listen:\n  socket: cri.sock\n', '2:11 listen.socket', /absolute path/u],
    ['runtime:\n  endpoint: unix://relative.sock\n', '2:13 runtime.endpoint', /invalid runtime endpoint "unix:\/\/relative.sock": it is not an absolute path/u],
    ['runtime:\n  endpoint: tcp://10.0.0.1:2375\n', '2:13 runtime.endpoint', /only unix sockets are supported/u],
    ['runtime:\n  endpoint: 3\n', '2:13 runtime.endpoint', /a socket path or unix:\/\/\/path, not 3/u],
    ['reserved:\n  namespaces:\n    - kube-system\n    - Kube_System\n', '4:7 reserved.namespaces.1', /namespace name \(lowercase letters, digits, "-"\), not "Kube_System"/u],
    ['reserved:\n  namespaces: ["*"]\n', '2:16 reserved.namespaces.0', /namespace name/u],
    ['reserved:\n  namespaces: kube-system\n', '2:15 reserved.namespaces', /a list of namespaces, not "kube-system"/u],
    ['annotations:\n  isolatedCpusNamespaces: [ok, "-bad"]\n', '2:32 annotations.isolatedCpusNamespaces.1', /namespace name \(lowercase letters, digits, "-"\) or "\*", not "-bad"/u],
    ['annotations:\n  memoryOnlyNodesNamespaces: [1]\n', '2:31 annotations.memoryOnlyNodesNamespaces.0', /namespace name or "\*", not 1/u],
    ['placement: true\n', '1:12 placement', /a mapping of keys, not true/u],
    ['listen: [a]\n', '1:9 listen', /a mapping of keys, not a list/u],
    ['- a\n', '1:1 ', /^the policy must be a mapping of keys, not a list$/u],
    ['just text\n', '1:1 ', /^the policy must be a mapping of keys, not "just text"$/u],
  ];
  for (const [text, position, message] of table) {
    const errors = errorsOf(text);
    t.equal(errors.length, 1, `one error for ${JSON.stringify(text)}`);
    t.equal(where(text)[0], position, JSON.stringify(text));
    t.match(errors[0]?.message, message, JSON.stringify(text));
    t.equal(errors[0]?.source, 'p.yaml');
  }
});

t.test('unknown keys are errors at the key, with a hint for near misses', async (t) => {
  const errors = errorsOf('loglevel: info\nlisten:\n  sockt: /x.sock\nplacement:\n  exclusive-cpus: true\n  turbo: true\nextra: 1\n');
  t.same(
    errors.map((error) => `${error.line}:${error.column} ${error.path}: ${error.message}`),
    [
      '1:1 loglevel: unknown key; did you mean "logLevel"?',
      '3:3 listen.sockt: unknown key; did you mean "socket"?',
      '5:3 placement.exclusive-cpus: unknown key; did you mean "exclusiveCpus"?',
      '6:3 placement.turbo: unknown key; allowed keys: exclusiveCpus, preferWholeCores, minSharedCpusPerNode, pinSharedToNode, memoryOnlyNodes, onInsufficient',
      '7:1 extra: unknown key; allowed keys: runtime, listen, stateDir, reserved, placement, annotations, logLevel',
    ],
    'every error at once, in file order',
  );
  t.equal(suggestKey('reserved_namespaces', ['namespaces', 'reservedNamespaces']), 'reservedNamespaces');
  t.equal(suggestKey('cpu', ['cpus', 'count']), 'cpus');
  t.equal(suggestKey('zzzzzz', ['cpus', 'count']), null);
  t.same(policyKeysAt(['placement', 'exclusiveCpus']), [], 'a scalar has no keys');
  t.same(policyKeysAt(['nothing']), []);
});

t.test('checks across keys run once every value is valid', async (t) => {
  t.same(where('reserved:\n  cpus: "0-1"\n  count: 2\n'), ['3:10 reserved.count']);
  t.match(errorsOf('reserved:\n  cpus: "0-1"\n  count: 2\n')[0]?.message, /together with reserved.cpus; keep one/u);
  t.same(parsed('reserved:\n  cpus: "0-1"\n  count: 0\n').reserved, { cpus: '0-1', count: 0, namespaces: ['kube-system'] });
  t.same(where('listen:\n  controlSocket: /run/cri-rebalancer/cri-rebalancer.sock\n'), ['2:18 listen.controlSocket']);
  t.same(where('runtime:\n  endpoint: unix:///run/cri-rebalancer/cri-rebalancer.sock\n'), ['2:13 runtime.endpoint']);
  // The key that breaks the rule is absent: the error points at the nearest key there is.
  t.same(where('listen:\n  socket: /run/cri-rebalancer/control.sock\n'), ['2:3 listen.controlSocket']);
  t.same(where('listen: {socket: /run/cri-rebalancer/control.sock}\n'), ['1:9 listen.controlSocket']);
});

t.test('YAML syntax errors name their line and column', async (t) => {
  t.same(where('listen:\n  socket: /a\n  socket: /b\n'), ['3:3 ']);
  t.match(errorsOf('listen:\n  socket: /a\n  socket: /b\n')[0]?.message, /duplicate key.*remove or merge/u);
  t.same(where('placement:\n  exclusiveCpus: [true\nlogLevel: info\n'), ['3:1 ']);
  t.match(errorsOf('placement:\n  exclusiveCpus: [true\n')[0]?.message, /^invalid YAML: .*; fix the syntax here$/u);
  t.same(where('logLevel: info\n---\nlogLevel: debug\n'), ['2:1 ']);
  t.match(errorsOf('logLevel: info\n---\nlogLevel: debug\n')[0]?.message, /second YAML document/u);
  t.same(where('logLevel: !custom info\n'), ['1:11 '], 'an unknown tag is refused, not guessed');
  t.match(errorsOf('logLevel: !custom info\n')[0]?.message, /^invalid YAML: Unresolved tag: !custom; fix the syntax here$/u);
  let bomb = 'a: &a [x, x, x, x, x, x, x, x, x, x]\n';
  for (const [name, previous] of [['b', 'a'], ['c', 'b'], ['d', 'c'], ['e', 'd']] as const) {
    bomb += `${name}: &${name} [${Array(10).fill(`*${previous}`).join(', ')}]\n`;
  }
  t.match(errorsOf(bomb), [{ line: 1, column: 1, message: /alias.*write the values out/u }]);
});

t.test('errors format as FILE:LINE:COL: key: message', async (t) => {
  t.equal(
    formatPolicyErrors(errorsOf('logLevel: loud\nextra: 1\n')),
    'p.yaml:1:11: logLevel: must be one of trace, debug, info, warn, error, fatal, not "loud"\n' +
      'p.yaml:2:1: extra: unknown key; allowed keys: runtime, listen, stateDir, reserved, placement, annotations, logLevel',
  );
  t.equal(formatPolicyErrors([{ source: '/etc/p.yaml', line: null, column: null, path: '', message: 'no such file; check the path' }]), '/etc/p.yaml: no such file; check the path');
});

t.test('loadPolicyFile reads a file, and says why it cannot', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'config-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, 'logLevel: warn\n');
  t.match(await loadPolicyFile(file), { ok: true, policy: { logLevel: 'warn' } });
  writeFileSync(file, 'logLevel: 1\n');
  t.match(await loadPolicyFile(file), { ok: false, errors: [{ source: file, line: 1, column: 11, path: 'logLevel' }] });
  t.match(await loadPolicyFile(join(dir, 'missing.yaml')), { ok: false, errors: [{ line: null, column: null, message: 'no such file; check the path' }] });
  t.match(await loadPolicyFile(dir), { ok: false, errors: [{ message: /is a directory/u }] });
  t.match(await loadPolicyFile(`${file}/below-a-file`), { ok: false, errors: [{ message: /cannot be read \(ENOTDIR.*check the path and its permissions/u }] });
});

t.test('the printed effective policy is a valid policy file that reads back the same', async (t) => {
  const custom = parsed('listen:\n  socketMode: "0600"\nreserved:\n  cpus: "0,28"\nannotations:\n  isolatedCpusNamespaces: ["*"]\n');
  for (const policy of [defaultPolicy, custom]) t.same(parsed(formatPolicyYaml(policy)), policy);
  t.match(formatPolicyYaml(defaultPolicy), /socketMode: "0660"/u);
});

/** Every key of a YAML mapping, recursively, as dotted paths with the line each key is on. */
function keyLines(map: YAMLMap, lineCounter: LineCounter, prefix = ''): Array<{ key: string; line: number; leaf: boolean }> {
  return map.items.flatMap((pair) => {
    const key = `${prefix}${isScalar(pair.key) ? String(pair.key.value) : ''}`;
    const line = lineCounter.linePos(isScalar(pair.key) ? (pair.key.range?.[0] ?? 0) : 0).line;
    const nested = isMap(pair.value) ? keyLines(pair.value, lineCounter, `${key}.`) : [];
    return [{ key, line, leaf: nested.length === 0 }, ...nested];
  });
}

t.test('the example policy sets every key, to its default, with a comment on each', async (t) => {
  const text = readFileSync(join(repoRoot, 'examples', 'policy.yaml'), 'utf8');
  t.same(parsed(text), defaultPolicy, 'the example says each value is the default');
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter });
  if (!isMap(document.contents)) throw new Error('the example is not a mapping');
  const keys = keyLines(document.contents, lineCounter);
  t.same(
    keys.filter((key) => key.leaf).map((key) => key.key),
    policyKeyPaths(),
    'the example holds exactly the schema keys, in schema order',
  );
  const lines = text.split('\n');
  for (const { key, line } of keys) {
    t.match(lines[line - 2] ?? '', /^\s*#/u, `a comment right above ${key} (line ${line})`);
  }
});

t.test('the policy reference documents every key and the annotations', async (t) => {
  const text = readFileSync(join(repoRoot, 'docs', 'policy.md'), 'utf8');
  for (const key of policyKeyPaths()) t.ok(text.includes(`| \`${key}\` |`), `docs/policy.md has a row for ${key}`);
  for (const annotation of ['cri-rebalancer.io/isolated-cpus', 'cri-rebalancer.io/memory-only-nodes', 'cri-rebalancer.io/shared-cpus']) {
    t.ok(text.includes(annotation), `docs/policy.md documents ${annotation}`);
  }
  const example = /```yaml\n([\s\S]*?)```/u.exec(text)?.[1];
  t.ok(example !== undefined, 'docs/policy.md has a YAML example');
  t.match(parsed(example ?? ''), { reserved: { cpus: '0,28' } }, 'the example in the docs is valid');
  const session = /```console\n\$ cat policy.yaml\n([\s\S]*?)\$ cri-rebalancer validate policy.yaml\n([\s\S]*?)```/u.exec(text);
  const shown = parsePolicy(session?.[1] ?? '', 'policy.yaml');
  t.equal(shown.ok ? '' : `${formatPolicyErrors(shown.errors)}\n`, session?.[2], 'the validate session in the docs is what validate prints');
});
