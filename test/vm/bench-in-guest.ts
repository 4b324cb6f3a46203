// Runs `bench:native --migration` in the two-node guest without the rest of the VM suite, for
// iterating on the migrator: one boot, the benchmark `--runs` times with the arguments after
// `--`, each run's JSON printed with what the host did to the guest meanwhile.
//   npx tsc -p tsconfig.json --outDir out && flock /tmp/cri-bench.lock \
//     node out/test/vm/bench-in-guest.js --runs 2 -- --budget-ms 20
// Under TCG a vCPU thread the host does not run stalls that vCPU, and the guest cannot see it:
// its clock runs on and the stall reads as CPU time of whatever it was running. So the host
// samples every vCPU thread's time on a CPU (/proc/.../schedstat) every 2 ms while a run lasts,
// lines the guest's clock up with its own (the guest prints CLOCK_MONOTONIC before and after
// each run), and for each paced move call over its budget tells how long the host kept that
// call's vCPU off a CPU: what the call would have taken had the host run the guest throughout.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { MigrationCall } from '../../src/monitor/page-migration.js';
import { median } from '../../src/metrics/percentile.js';
import { repoRoot } from '../helpers/paths.js';
import { bootGuest } from './guest-boot.js';
import { defaultCacheDir, prepareGuestImage } from './guest-image.js';
import { twoNodeLayout } from './guest-layout.js';

const { values: options, positionals: benchArgs } = parseArgs({
  options: { runs: { type: 'string', default: '1' } },
  allowPositionals: true,
  strict: true,
});

const samplingMs = 2;

/** One vCPU thread, sampled: host CLOCK_MONOTONIC, time on a host CPU, time waiting for one (ms). */
interface VcpuSamples {
  readonly atMs: number[];
  readonly runMs: number[];
  readonly waitMs: number[];
}

const hostNowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/** Key of QEMU's main loop thread (device emulation, under QEMU's global lock) among the vCPUs. */
const mainLoop = -1;

/** QEMU's vCPU threads ("CPU 2/TCG") by guest CPU, and its main loop: their schedstat files. */
function findVcpuThreads(qemuPid: number): Map<number, string> {
  const threads = new Map<number, string>([[mainLoop, `/proc/${qemuPid}/task/${qemuPid}/schedstat`]]);
  for (const task of readdirSync(`/proc/${qemuPid}/task`)) {
    const cpu = /^CPU (\d+)\//u.exec(readFileSync(`/proc/${qemuPid}/task/${task}/comm`, 'utf8'))?.[1];
    if (cpu !== undefined) threads.set(Number(cpu), `/proc/${qemuPid}/task/${task}/schedstat`);
  }
  return threads;
}

/** A sampled counter's value at a host time, interpolated between the samples around it. */
function valueAt(atMs: readonly number[], values: readonly number[], at: number): number {
  const after = atMs.findIndex((sampled) => sampled >= at);
  if (after <= 0) return values[after < 0 ? values.length - 1 : 0] ?? 0;
  const [t0, t1, v0, v1] = [atMs[after - 1] ?? 0, atMs[after] ?? 0, values[after - 1] ?? 0, values[after] ?? 0];
  return v0 + ((v1 - v0) * (at - t0)) / (t1 - t0);
}

/** The guest's CLOCK_MONOTONIC (ms) on the host's: a line through the first and last reading. */
type GuestToHost = (guestMs: number) => number;

/**
 * For a call: how long the host kept its vCPU off a CPU (the call's span minus the vCPU thread's
 * run time in it, less the time the call slept in the guest, when its vCPU may idle), and how long
 * the other vCPUs waited for a host CPU meanwhile (a guest kernel that waits for another CPU, an
 * IPI answered, spins on its own).
 */
function hostView(call: MigrationCall, toHost: GuestToHost, vcpus: ReadonlyMap<number, VcpuSamples>) {
  const samples = vcpus.get(call.cpu);
  if (samples === undefined) return undefined;
  const [start, end] = [toHost(call.startMs), toHost(call.startMs + call.elapsedMs)];
  const during = (values: (entry: VcpuSamples) => number[], entry: VcpuSamples) => valueAt(entry.atMs, values(entry), end) - valueAt(entry.atMs, values(entry), start);
  const ran = during((entry) => entry.runMs, samples);
  const others = [...vcpus].filter(([cpu]) => cpu !== call.cpu && cpu !== mainLoop).map(([, entry]) => entry);
  const sum = (values: (entry: VcpuSamples) => number[]) => others.reduce((total, entry) => total + during(values, entry), 0);
  const main = vcpus.get(mainLoop);
  return {
    heldMs: Math.min(call.elapsedMs, Math.max(0, call.elapsedMs - ran - (call.elapsedMs - call.cpuMs))),
    othersWaitedMs: sum((entry) => entry.waitMs),
    othersRanMs: sum((entry) => entry.runMs),
    mainLoopRanMs: main === undefined ? 0 : during((entry) => entry.runMs, main),
  };
}

const round1 = (value: number): number => Math.round(value * 10) / 10;

function judgeCalls(calls: readonly MigrationCall[], budgetMs: number, toHost: GuestToHost, vcpus: ReadonlyMap<number, VcpuSamples>) {
  const over = calls.filter((call) => call.elapsedMs > budgetMs).map((call) => ({ call, host: hostView(call, toHost, vcpus) }));
  const known = over.filter((entry) => entry.host !== undefined);
  // What else the emulator ran per ms of a call, median, over budget and within: does it go with the stalls?
  const perMs = (entries: readonly MigrationCall[], pick: (view: NonNullable<ReturnType<typeof hostView>>) => number) =>
    round1(median(entries.flatMap((call) => {
      const view = hostView(call, toHost, vcpus);
      return view === undefined ? [] : [pick(view) / call.elapsedMs];
    })) * 10) / 10;
  const within = calls.filter((call) => call.elapsedMs <= budgetMs);
  const overCalls = over.map((entry) => entry.call);
  return {
    moveCalls: calls.length,
    otherVcpusRanPerMs: { withinBudget: perMs(within, (view) => view.othersRanMs), overBudget: perMs(overCalls, (view) => view.othersRanMs) },
    mainLoopRanPerMs: { withinBudget: perMs(within, (view) => view.mainLoopRanMs), overBudget: perMs(overCalls, (view) => view.mainLoopRanMs) },
    overBudget: over.length,
    overBudgetCpuUnknown: over.length - known.length,
    overBudgetWithoutHostHold: known.filter((entry) => entry.call.elapsedMs - (entry.host?.heldMs ?? 0) > budgetMs).length,
    overBudgetWhileOthersWaitedHalf: known.filter((entry) => (entry.host?.othersWaitedMs ?? 0) > entry.call.elapsedMs / 2).length,
    overBudgetCalls: over.map(({ call, host }) => ({
      pages: call.pages,
      ms: round1(call.elapsedMs),
      cpuMs: round1(call.cpuMs),
      hostHeldMs: host === undefined ? null : round1(host.heldMs),
      othersWaitedMs: host === undefined ? null : round1(host.othersWaitedMs),
      othersRanMs: host === undefined ? null : round1(host.othersRanMs),
      mainLoopRanMs: host === undefined ? null : round1(host.mainLoopRanMs),
    })),
  };
}

const runs = Number(options.runs);
const resultsDir = join(defaultCacheDir, 'results', `bench-${process.pid}`);
rmSync(resultsDir, { recursive: true, force: true });
mkdirSync(resultsDir, { recursive: true });
writeFileSync(join(resultsDir, 'layout.json'), JSON.stringify(twoNodeLayout));
const quoted = ['--migration', '--mib', '256', '--from', '0', '--to', '1', ...benchArgs].map((arg) => `'${arg.replace(/'/gu, '')}'`).join(' ');
const printClock = `node -e 'console.log("bench-in-guest: clock " + process.hrtime.bigint())'`;
// 4 KiB pages, as the VM suite's benchmark: it compares batching, not huge-page moves.
writeFileSync(
  join(resultsDir, 'run.sh'),
  `cd /repo
export HOME=/tmp PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
echo never > /sys/kernel/mm/transparent_hugepage/enabled
for run in $(seq 1 ${runs}); do
  echo "bench-in-guest: start $run"
  ${printClock}
  node out/bench/native.js ${quoted} --calls-out /results/calls-$run.json > /results/bench-$run.out 2>&1
  ${printClock}
  echo "bench-in-guest: end $run"
done
`,
);

const prepared = prepareGuestImage(join(repoRoot, 'test', 'vm', 'guest', 'init.sh'));
if ('skip' in prepared) {
  console.error(`cannot boot the guest: ${prepared.skip}`);
  process.exit(1);
}

interface Run {
  readonly vcpus: Map<number, VcpuSamples>;
  /** Clock readings: guest CLOCK_MONOTONIC and host CLOCK_MONOTONIC on the line's arrival (ms). */
  readonly clocks: { guestMs: number; hostMs: number }[];
  readonly startMs: number;
  endMs: number;
  readonly loadAverage1m: number[];
}

const readLoadAverage = (): number => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
let qemuPid = 0;
let current: Run | undefined;
const finished: Run[] = [];
let sampler: NodeJS.Timeout | undefined;

function sample(run: Run, threads: ReadonlyMap<number, string>): void {
  const atMs = hostNowMs();
  for (const [cpu, file] of threads) {
    const samples = run.vcpus.get(cpu) ?? { atMs: [], runMs: [], waitMs: [] };
    run.vcpus.set(cpu, samples);
    const [runNs, waitNs] = readFileSync(file, 'utf8').split(' ').map(Number);
    samples.atMs.push(atMs);
    samples.runMs.push((runNs ?? 0) / 1e6);
    samples.waitMs.push((waitNs ?? 0) / 1e6);
  }
}

function onMark(kind: string, value: string): void {
  if (kind === 'start') {
    current = { vcpus: new Map(), clocks: [], startMs: hostNowMs(), endMs: 0, loadAverage1m: [readLoadAverage()] };
    const run = current;
    const threads = findVcpuThreads(qemuPid);
    sampler = setInterval(() => sample(run, threads), samplingMs);
  } else if (kind === 'clock' && current !== undefined) {
    current.clocks.push({ guestMs: Number(value) / 1e6, hostMs: hostNowMs() });
  } else if (kind === 'end' && current !== undefined) {
    clearInterval(sampler);
    current.endMs = hostNowMs();
    current.loadAverage1m.push(readLoadAverage());
    finished.push(current);
    current = undefined;
  }
}

const outcome = await bootGuest({
  image: prepared.image,
  layout: twoNodeLayout,
  shares: [
    { tag: 'usr', hostPath: '/usr', readonly: true },
    { tag: 'etc', hostPath: '/etc', readonly: true },
    { tag: 'repo', hostPath: repoRoot, readonly: true },
    { tag: 'results', hostPath: resultsDir, readonly: false },
  ],
  timeoutMs: 150_000 * runs + 60_000,
  onStarted: (pid) => (qemuPid = pid),
  onConsoleLine: (line) => {
    const mark = /bench-in-guest: (start|end|clock) (\d+)/u.exec(line);
    if (mark !== null) onMark(mark[1] as string, mark[2] as string);
    process.stderr.write(`[guest] ${line}\n`);
  },
});
if (outcome.timedOut) console.error('the guest timed out');
finished.forEach((run, index) => {
  const output = readFileSync(join(resultsDir, `bench-${index + 1}.out`), 'utf8').trim();
  const bench = JSON.parse(output.split('\n').at(-1) ?? '{}') as { migration?: { budgetMs?: number } };
  const calls = JSON.parse(readFileSync(join(resultsDir, `calls-${index + 1}.json`), 'utf8')) as MigrationCall[];
  // The emulated clock may drift from the host's (the rate is reported): a line through both readings.
  const [first, last] = [run.clocks[0], run.clocks.at(-1)];
  if (first === undefined || last === undefined) throw new Error(`run ${index + 1}: the guest printed no clock`);
  const rate = (last.hostMs - first.hostMs) / (last.guestMs - first.guestMs);
  const toHost: GuestToHost = (guestMs) => first.hostMs + (guestMs - first.guestMs) * rate;
  const host = {
    wallMs: Math.round(run.endMs - run.startMs),
    loadAverage1m: run.loadAverage1m,
    guestClockRate: Number(rate.toFixed(5)),
    calls: judgeCalls(calls, bench.migration?.budgetMs ?? 20, toHost, run.vcpus),
  };
  console.log(JSON.stringify({ run: index + 1, host, bench }));
});
rmSync(resultsDir, { recursive: true, force: true });
