// The VM suite: boots a QEMU multi-NUMA guest (TCG) with Debian's kernel, runs the guest suite
// (guest/numa-migration.guest.ts) inside it with this host's node, its compiled tests and its
// native addon, streams the guest's console to stderr, and mirrors each guest test here. A
// two-node guest runs every check and the migration benchmark; a four-node guest checks
// discovery of uneven distances and a move to a far node.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { repoRoot } from '../helpers/paths.js';
import { bootGuest, type GuestShare } from './guest-boot.js';
import { defaultCacheDir, prepareGuestImage } from './guest-image.js';
import { fourNodeLayout, twoNodeLayout, type GuestLayout } from './guest-layout.js';
import { parseGuestTap } from './guest-tap.js';

/** One guest's limit: a boot takes ~6 s and the two-node suite ~1–2 min under TCG on 2 cores. */
const guestTimeoutMs = 300_000;
t.setTimeout(2 * guestTimeoutMs + 120_000);

/**
 * The guest's shell script: the guest suite's TAP goes to the console and to guest.tap. The
 * guest ends its own suite before the host's limit, so a QEMU whose host test died powers off.
 */
const guestRunScript = `cd /repo
export VM_RESULTS_DIR=/results HOME=/tmp PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
{ timeout -s KILL ${guestTimeoutMs / 1000 - 30} node --enable-source-maps --test-reporter=tap out/test/vm/guest/numa-migration.guest.js; echo $? > /results/exit-code; } 2>&1 | tee /results/guest.tap
`;

/** Each run's guest results stay until a later run finds the run that wrote them gone. */
const resultsRoot = join(defaultCacheDir, 'results');

function removeStaleResults(): void {
  if (!existsSync(resultsRoot)) return;
  for (const entry of readdirSync(resultsRoot)) {
    const pid = Number(/-(\d+)$/u.exec(entry)?.[1]);
    if (!isRunning(pid)) rmSync(join(resultsRoot, entry), { recursive: true, force: true });
  }
}

function isRunning(pid: number): boolean {
  try {
    return Number.isInteger(pid) && process.kill(pid, 0);
  } catch {
    return false;
  }
}

function readIfExists(path: string): string | null {
  return existsSync(path) ? readFileSync(path, 'utf8') : null;
}

const prepared = prepareGuestImage(join(repoRoot, 'test', 'vm', 'guest', 'init.sh'));
if (!existsSync(join(repoRoot, 'out', 'test', 'vm', 'guest', 'numa-migration.guest.js'))) {
  t.fail('out/test/vm/guest/numa-migration.guest.js is missing: run the suite with `node test/run.mjs vm`, which compiles it');
} else if ('skip' in prepared) {
  t.test('multi-NUMA guest', { skip: prepared.skip }, () => {});
} else {
  const { image } = prepared;
  removeStaleResults();
  t.comment(`guest kernel ${image.kernelPackage}, cache ${defaultCacheDir}`);
  for (const layout of [twoNodeLayout, fourNodeLayout]) {
    t.test(`${layout.name} guest`, (t) => runGuest(t, layout));
  }

  async function runGuest(t: Test, layout: GuestLayout): Promise<void> {
    const resultsDir = join(resultsRoot, `${layout.name}-${process.pid}`);
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(join(resultsDir, 'layout.json'), JSON.stringify(layout));
    writeFileSync(join(resultsDir, 'run.sh'), guestRunScript);
    const shares: GuestShare[] = [
      { tag: 'usr', hostPath: '/usr', readonly: true },
      { tag: 'etc', hostPath: '/etc', readonly: true },
      { tag: 'repo', hostPath: repoRoot, readonly: true },
      { tag: 'results', hostPath: resultsDir, readonly: false },
    ];
    const outcome = await bootGuest({
      image,
      layout,
      shares,
      timeoutMs: guestTimeoutMs,
      onConsoleLine: (line) => process.stderr.write(`[${layout.name}] ${line}\n`),
    });
    t.comment(`${layout.name}: init after ${outcome.bootMs ?? '-'} ms, powered off after ${outcome.wallMs} ms`);
    if (outcome.timedOut) {
      t.fail(`the ${layout.name} guest ran past ${guestTimeoutMs / 1000} s and was killed; its console is above`);
      return;
    }
    t.equal(outcome.exitCode, 0, 'QEMU exited cleanly (the guest powered off)');
    const exitCode = readIfExists(join(resultsDir, 'exit-code'));
    if (exitCode === null) {
      t.fail(`the ${layout.name} guest suite never finished (no exit-code in ${resultsDir}); its console is above`);
      return;
    }
    const results = parseGuestTap(readIfExists(join(resultsDir, 'guest.tap')) ?? '');
    for (const check of layout.checks) {
      const result = results.find((entry) => entry.name === check);
      if (result === undefined) t.fail(`guest check ${check}: no result in guest.tap`);
      else if (result.outcome === 'skip') t.test(`guest: ${check}`, { skip: result.reason }, () => {});
      else t.ok(result.outcome === 'pass', `guest: ${check}`, result.outcome === 'fail' ? { diagnostic: true, guest: result.diagnostics } : {});
    }
    t.equal(exitCode.trim(), '0', 'the guest suite exited 0');
    const measurements = readIfExists(join(resultsDir, 'measurements.json'));
    if (measurements !== null) t.comment(`${layout.name} measurements (${resultsDir}/measurements.json):\n${measurements}`);
    const bench = readIfExists(join(resultsDir, 'bench-migration.json'));
    if (bench !== null) t.comment(`${layout.name} bench:native --migration in the guest (${resultsDir}/bench-migration.json):\n${bench}`);
  }
}
