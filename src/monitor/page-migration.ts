// Moves a process's memory between NUMA nodes with move_pages(2) in batches that each stay within
// a time budget, paced by a bandwidth cap, retrying pages that fail transiently, cancellable. The
// mappings are read here; the addon's thread then lists their present pages from pagemap (a
// JavaScript loop over every page took 0.6–1.3 s for 256 MiB under emulation) and runs the whole
// paced loop (a round trip through the event loop per batch cost as much as the batch there),
// reporting progress after every call when asked. migrate_pages(2) moves a whole process at
// once where that is what the caller wants.
import { readFile } from 'node:fs/promises';
import { loadAddon, type NativePacedResult, type NativeProgressFields } from './addon.js';
import { errnoName, nameFailures } from './migration-pacing.js';
import { parseProcMaps, selectPrivateWritable, type MappingRange } from './numa-maps.js';

export interface MovePagesOptions {
  readonly pid: number;
  readonly targetNode: number;
  /** Time budget of one move_pages call (default 20 ms). */
  readonly budgetMs?: number;
  readonly maxBytesPerSec?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: MigrationProgress) => void;
  /** Rounds of retries for pages with a transient status (default 3). */
  readonly maxRetries?: number;
  /** Also move pages other processes map (MPOL_MF_MOVE_ALL; needs CAP_SYS_NICE). */
  readonly moveShared?: boolean;
  /**
   * Threads taking batches in turn (default 1): more overlap calls, for more throughput at the
   * cost of more CPUs and slower calls side by side.
   */
  readonly movers?: number;
  /** Keep every move call's page count and duration in the result's callLog (benchmarks, tests). */
  readonly recordCalls?: boolean;
}

export interface MigrationProgress {
  readonly pagesSeen: number;
  readonly pagesMoved: number;
  readonly pagesAlreadyThere: number;
  /** pagesMoved in bytes: each listed page is one base page, also inside a huge page. */
  readonly bytesMoved: number;
  /** Kernel calls so far: the queries of where pages are, then the moves. */
  readonly calls: number;
  readonly elapsedMs: number;
}

export interface MigrationCall {
  readonly pages: number;
  /** CLOCK_MONOTONIC at the call's start (to line calls up with what else was measured). */
  readonly startMs: number;
  readonly elapsedMs: number;
  /** The migration thread's CPU time in the call; the rest it waited (other CPUs, the scheduler). */
  readonly cpuMs: number;
  /** The CPU the call ran on; -1 when it changed CPUs. */
  readonly cpu: number;
}

export interface MigrationResult extends MigrationProgress {
  readonly pagesFailedByErrno: Readonly<Record<string, number>>;
  readonly pagesRetried: number;
  readonly maxCallMs: number;
  /** Where the time went: listing the pages, inside query calls, inside move calls, asleep (cap, retry delay). */
  readonly listMs: number;
  readonly queryMs: number;
  readonly moveMs: number;
  readonly pacingMs: number;
  readonly cancelled: boolean;
  /** With recordCalls: every move call. */
  readonly callLog?: readonly MigrationCall[];
  /** Why the migration stopped early (the process exited, permission denied, ...). */
  readonly error?: string;
}

const retryDelayMs = 10;
const defaultBudgetMs = 20;

/** What to do when a whole move_pages call fails. */
const callHints: Record<string, string> = {
  EACCES: `: node not in the process's cpuset.mems (widen mems to old ∪ new before moving pages)`,
  ENODEV: ': the target node is offline or has no memory',
  EPERM: ': needs root or CAP_SYS_NICE to move another process\'s pages',
  ESRCH: ': the process has exited',
};

/** The mappings as the addon takes them: start, end pairs. */
function toRangePairs(ranges: readonly MappingRange[]): BigUint64Array {
  return BigUint64Array.from(ranges.flatMap((range) => [BigInt(range.start), BigInt(range.end)]));
}

function toCallLog(native: NativePacedResult): MigrationCall[] {
  return Array.from(native.callPages, (pages, index) => ({
    pages,
    startMs: (native.callStartNs[index] ?? 0) / 1e6,
    elapsedMs: (native.callNs[index] ?? 0) / 1e6,
    cpuMs: (native.callCpuNs[index] ?? 0) / 1e6,
    cpu: native.callCpu[index] ?? -1,
  }));
}

function emptyResult(error: string | undefined, cancelled: boolean): MigrationResult {
  return {
    pagesSeen: 0,
    pagesMoved: 0,
    pagesAlreadyThere: 0,
    bytesMoved: 0,
    calls: 0,
    elapsedMs: 0,
    pagesFailedByErrno: {},
    pagesRetried: 0,
    maxCallMs: 0,
    listMs: 0,
    queryMs: 0,
    moveMs: 0,
    pacingMs: 0,
    cancelled,
    ...(error === undefined ? {} : { error }),
  };
}

export async function movePages(options: MovePagesOptions): Promise<MigrationResult> {
  const addon = loadAddon();
  const { pid, targetNode, signal } = options;
  const aborted = (): boolean => signal?.aborted === true;
  if (aborted()) return emptyResult(undefined, true);
  let ranges: BigUint64Array;
  try {
    ranges = toRangePairs(selectPrivateWritable(parseProcMaps(await readFile(`/proc/${pid}/maps`, 'utf8'))));
  } catch (error) {
    return emptyResult(`cannot read /proc/${pid}/maps: ${(error as Error).message} (has the process exited?)`, false);
  }
  if (aborted()) return emptyResult(undefined, true);
  const pageBytes = addon.pageSizeBytes;
  const toProgress = (native: NativeProgressFields): MigrationProgress => ({
    pagesSeen: native.pagesSeen,
    pagesMoved: native.pagesMoved,
    pagesAlreadyThere: native.pagesAlreadyThere,
    bytesMoved: native.pagesMoved * pageBytes,
    calls: native.calls,
    elapsedMs: native.elapsedNs / 1e6,
  });
  const { onProgress } = options;
  const job = addon.movePagesPaced(
    pid,
    ranges,
    targetNode,
    {
      moveShared: options.moveShared ?? false,
      budgetNs: (options.budgetMs ?? defaultBudgetMs) * 1e6,
      maxBytesPerSec: options.maxBytesPerSec ?? 0,
      maxRetries: options.maxRetries ?? 3,
      retryDelayNs: retryDelayMs * 1e6,
      pageBytes,
      movers: options.movers ?? 1,
      recordCalls: options.recordCalls ?? false,
    },
    onProgress === undefined ? undefined : (native) => onProgress(toProgress(native)),
  );
  const cancel = () => job.cancel();
  signal?.addEventListener('abort', cancel, { once: true });
  const native = await job.promise.finally(() => signal?.removeEventListener('abort', cancel));
  const name = native.errno === undefined ? undefined : errnoName(native.errno);
  return {
    ...toProgress(native),
    pagesFailedByErrno: nameFailures(native.failedByErrno),
    pagesRetried: native.pagesRetried,
    maxCallMs: native.maxCallNs / 1e6,
    listMs: native.listNs / 1e6,
    queryMs: native.queryNs / 1e6,
    moveMs: native.moveNs / 1e6,
    pacingMs: native.pacingNs / 1e6,
    cancelled: native.cancelled,
    ...(options.recordCalls === true ? { callLog: toCallLog(native) } : {}),
    ...(name === undefined ? {} : { error: `move_pages on pid ${pid} failed: ${native.error} (${name})${callHints[name] ?? ''}` }),
  };
}

export interface WholeMigrationResult {
  readonly notMoved: number;
  readonly elapsedMs: number;
  readonly error?: string;
}

/** migrate_pages(2): every page of the process on fromNodes to toNodes, in one kernel call. */
export async function migratePages(options: { pid: number; fromNodes: readonly number[]; toNodes: readonly number[] }): Promise<WholeMigrationResult> {
  const result = await loadAddon().migratePages(options.pid, [...options.fromNodes], [...options.toNodes]);
  return {
    notMoved: result.notMoved,
    elapsedMs: result.elapsedNs / 1e6,
    ...(result.errno === undefined ? {} : { error: `migrate_pages on pid ${options.pid} failed: ${result.error} (${errnoName(result.errno)})` }),
  };
}

/** The node of each page (or -errno: -ENOENT not present, -EFAULT not mapped). */
export async function queryPageNodes(pid: number, addresses: readonly number[] | BigUint64Array): Promise<Int32Array> {
  const array = addresses instanceof BigUint64Array ? addresses : BigUint64Array.from(addresses, BigInt);
  const result = await loadAddon().queryPageNodes(pid, array);
  if (result.errno !== undefined) throw new Error(`move_pages (query) on pid ${pid} failed: ${result.error} (${errnoName(result.errno)})`);
  return result.nodes;
}
