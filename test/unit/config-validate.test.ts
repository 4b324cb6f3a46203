import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { command } from '../../src/commands/validate.js';
import { defaultPolicy } from '../../src/config/defaults.js';
import { parsePolicy } from '../../src/config/load.js';

/** Runs `validate ARGS`, capturing what it writes. */
async function validate(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const stdoutWrite = process.stdout.write;
  const stderrWrite = process.stderr.write;
  process.stdout.write = ((chunk: string) => ((out += chunk), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string) => ((err += chunk), true)) as typeof process.stderr.write;
  try {
    return { code: await command.run(args), out, err };
  } finally {
    process.stdout.write = stdoutWrite;
    process.stderr.write = stderrWrite;
  }
}

const dir = mkdtempSync(join(tmpdir(), 'config-validate-test-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const good = join(dir, 'good.yaml');
writeFileSync(good, 'reserved:\n  cpus: "0-1"\n');
const bad = join(dir, 'bad.yaml');
writeFileSync(bad, 'logLevel: loud\nplacement:\n  exclusiveCPUs: true\n');

t.test('a valid file: exit 0, "FILE: valid"', async (t) => {
  t.same(await validate(good), { code: 0, out: `${good}: valid\n`, err: '' });
  t.same(await validate('examples/policy.yaml'), { code: 0, out: 'examples/policy.yaml: valid\n', err: '' });
});

t.test('an invalid file: exit 1, every error as FILE:LINE:COL: message', async (t) => {
  t.same(await validate(bad), {
    code: 1,
    out: '',
    err:
      `${bad}:1:11: logLevel: must be one of trace, debug, info, warn, error, fatal, not "loud"\n` +
      `${bad}:3:3: placement.exclusiveCPUs: unknown key; did you mean "exclusiveCpus"?\n`,
  });
  const missing = join(dir, 'missing.yaml');
  t.same(await validate(missing), { code: 1, out: '', err: `${missing}: no such file; check the path\n` });
});

t.test('--print shows the effective policy as YAML that validates back', async (t) => {
  const { code, out, err } = await validate('--print', good);
  t.equal(code, 0);
  t.equal(err, '');
  t.match(out, new RegExp(`^# ${good}: valid; the effective policy, defaults filled in\n`, 'u'));
  t.match(out, /socketMode: "0660"/u);
  const reparsed = parsePolicy(out, 'printed');
  t.same(reparsed.ok && reparsed.policy, { ...defaultPolicy, reserved: { ...defaultPolicy.reserved, cpus: '0-1' } });
  t.match(await validate(bad, '--print'), { code: 1, out: '', err: /logLevel/u });
});

t.test('--json for tools', async (t) => {
  const valid = await validate('--json', good);
  t.equal(valid.code, 0);
  t.same(JSON.parse(valid.out), { file: good, valid: true, errors: [] });

  const printed = await validate('--json', '--print', good);
  t.match(JSON.parse(printed.out), { file: good, valid: true, policy: { listen: { socketMode: '0660' }, reserved: { cpus: '0-1' } } });

  const invalid = await validate(bad, '--json', '--print');
  t.equal(invalid.code, 1);
  t.equal(invalid.err, '');
  t.same(JSON.parse(invalid.out), {
    file: bad,
    valid: false,
    policy: null,
    errors: [
      { source: bad, line: 1, column: 11, path: 'logLevel', message: 'must be one of trace, debug, info, warn, error, fatal, not "loud"' },
      { source: bad, line: 3, column: 3, path: 'placement.exclusiveCPUs', message: 'unknown key; did you mean "exclusiveCpus"?' },
    ],
  });
});

t.test('bad usage: exit 2 with the usage', async (t) => {
  for (const [args, problem] of [
    [[], 'no policy file given'],
    [[good, bad], 'give one policy file'],
    [['--verbose', good], "Unknown option '--verbose'"],
  ] as const) {
    const { code, out, err } = await validate(...args);
    t.equal(code, 2, problem);
    t.equal(out, '');
    t.ok(err.startsWith(`cri-rebalancer validate: ${problem}`), problem);
    t.ok(err.includes('\n\nusage: cri-rebalancer validate [--print] [--json] FILE\n'), 'then the usage');
  }
});
