// The test command: installs what the suites need, compiles the TypeScript once, runs the
// suites with tap over the compiled JavaScript (honest coverage, no per-file loader cost), and
// ends with one plain line: "N passed, N failed, N skipped".
//   node test/run.mjs            every suite (unit, integration, vm)
//   node test/run.mjs unit ...   only the named suites
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installDebianPackages, installNpmPackages } from '../scripts/setup.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Each suite: its directory, the Debian packages it needs, whether coverage is checked, and an
 * entry file where all its tests share one process (the pure unit suite: see test/unit/all.ts).
 */
const suites = {
  unit: { dir: 'test/unit', entry: 'all.js', packages: [], coverage: true },
  integration: { dir: 'test/integration', packages: ['native', 'runtime'], coverage: false },
  vm: { dir: 'test/vm', packages: ['native', 'vm'], coverage: false },
};

function hasTests(dir) {
  const full = join(root, dir);
  return existsSync(full) && readdirSync(full, { recursive: true }).some((file) => String(file).endsWith('.test.ts'));
}

const requested = process.argv.slice(2);
const names = requested.length > 0 ? requested : Object.keys(suites);
for (const name of names) {
  if (!(name in suites)) {
    console.error(`unknown suite "${name}"; suites: ${Object.keys(suites).join(', ')}`);
    process.exit(2);
  }
}

installDebianPackages(names.flatMap((name) => suites[name].packages));
installNpmPackages();
// A fresh out/ each run: a test file deleted from test/ must not live on in its compiled copy.
rmSync(join(root, 'out'), { recursive: true, force: true });
try {
  execFileSync(join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json', '--outDir', 'out'], {
    cwd: root,
    stdio: 'inherit',
  });
} catch {
  console.log('\nThe TypeScript compile failed (errors above): no suite ran.\n0 passed, 1 failed, 0 skipped');
  process.exit(1);
}

function runTap(name) {
  const suite = suites[name];
  const files = `out/${suite.dir}/${suite.entry ?? '**/*.test.js'}`;
  const args = suite.coverage ? [files] : ['--disable-coverage', files];
  return new Promise((resolve) => {
    let output = '';
    const child = spawn(join(root, 'node_modules', '.bin', 'tap'), args, { cwd: root });
    for (const stream of [child.stdout, child.stderr]) {
      stream.on('data', (chunk) => {
        output += chunk;
        (stream === child.stdout ? process.stdout : process.stderr).write(chunk);
      });
    }
    child.on('close', (code) => resolve({ code, output }));
  });
}

/** tap's closing line without a TTY: "# { total: 12, pass: 11, fail: 1, skip: 1 }". */
function parseSummary(output) {
  const match = /^# \{ total: (\d+)(.*)\}$/mu.exec(output);
  if (!match) return null;
  const field = (key) => Number(new RegExp(`${key}: (\\d+)`, 'u').exec(match[2])?.[1] ?? 0);
  return { pass: field('pass'), fail: field('fail'), skip: field('skip') + field('todo') };
}

const totals = { pass: 0, fail: 0, skip: 0 };
let failed = false;
for (const name of names) {
  console.log(`\n== ${name} suite ==`);
  if (!hasTests(suites[name].dir)) {
    console.log(`${name}: no tests yet`);
    continue;
  }
  const { code, output } = await runTap(name);
  const summary = parseSummary(output);
  if (summary === null) {
    console.log(`${name}: tap printed no summary (exit ${code})`);
    failed = true;
    totals.fail += 1;
    continue;
  }
  // tap prints this, without counting a failure, for tests registered after their parent ended.
  if (output.includes('cannot create subtest after parent test ends')) {
    console.log(`${name}: some tests were registered after their parent test ended and never ran`);
    totals.fail += 1;
    failed = true;
  }
  if (code !== 0 && summary.fail === 0) {
    console.log(`${name}: tap exited ${code} with no failing test (coverage below the threshold?)`);
    totals.fail += 1;
  }
  failed ||= code !== 0;
  totals.pass += summary.pass;
  totals.fail += summary.fail;
  totals.skip += summary.skip;
}
console.log(`\n${totals.pass} passed, ${totals.fail} failed, ${totals.skip} skipped`);
process.exit(failed ? 1 : 0);
