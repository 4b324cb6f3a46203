// Moves a process's memory between NUMA nodes with move_pages(2) in batches that each stay within
// a time budget, paced by a bandwidth cap, off the event loop (every call runs on a libuv worker
// thread), retrying pages that fail transiently, cancellable. migrate_pages(2) moves a whole process
// at once where that is what the caller wants.
import { open, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadAddon, type NativeAddon } from './addon.js';
import { classifyBatch, errnoName, initialBatchPages, nextBatchPages, paceDelayMs } from './migration-pacing.js';
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
}

export interface MigrationProgress {
  readonly pagesSeen: number;
  readonly pagesMoved: number;
  readonly pagesAlreadyThere: number;
  readonly bytesMoved: number;
  readonly calls: number;
  readonly elapsedMs: number;
}

export interface MigrationResult extends MigrationProgress {
  readonly pagesFailedByErrno: Readonly<Record<string, number>>;
  readonly pagesRetried: number;
  readonly maxCallMs: number;
  readonly cancelled: boolean;
  /** Why the migration stopped early (the process exited, permission denied, ...). */
  readonly error?: string;
}

/** Pages decoded per pagemap read: about a millisecond of work on the event loop. */
const pagemapChunkPages = 16384;
const pagemapPresent = 1n << 63n;
const pagemapFileOrShared = 1n << 61n;
const retryDelayMs = 10;

/** What to do when a whole move_pages call fails. */
const callHints: Record<string, string> = {
  EACCES: `: node not in the process's cpuset.mems (widen mems to old ∪ new before moving pages)`,
  ENODEV: ': the target node is offline or has no memory',
  EPERM: ': needs root or CAP_SYS_NICE to move another process\'s pages',
  ESRCH: ': the process has exited',
};

/**
 * The present, exclusively anonymous pages of the given mappings, from /proc/PID/pagemap (file
 * and shared pages are the page cache's; they stay put). Without pagemap access every page of the
 * mappings is listed and move_pages reports the absent ones.
 */
async function* listPages(pid: number, ranges: readonly MappingRange[], pageBytes: number): AsyncGenerator<number[]> {
  let pagemap;
  try {
    pagemap = await open(`/proc/${pid}/pagemap`, 'r');
  } catch {
    pagemap = undefined;
  }
  try {
    const buffer = Buffer.alloc(pagemapChunkPages * 8);
    for (const range of ranges) {
      for (let first = range.start; first < range.end; first += pagemapChunkPages * pageBytes) {
        const count = Math.min(pagemapChunkPages, (range.end - first) / pageBytes);
        const pages: number[] = [];
        if (pagemap === undefined) {
          for (let index = 0; index < count; index++) pages.push(first + index * pageBytes);
        } else {
          const { bytesRead } = await pagemap.read(buffer, 0, count * 8, (first / pageBytes) * 8);
          for (let index = 0; index < bytesRead / 8; index++) {
            const entry = buffer.readBigUInt64LE(index * 8);
            if ((entry & pagemapPresent) !== 0n && (entry & pagemapFileOrShared) === 0n) pages.push(first + index * pageBytes);
          }
        }
        if (pages.length > 0) yield pages;
      }
    }
  } finally {
    await pagemap?.close();
  }
}

class Migration {
  pagesSeen = 0;
  pagesMoved = 0;
  pagesAlreadyThere = 0;
  pagesRetried = 0;
  calls = 0;
  maxCallMs = 0;
  batchPages = initialBatchPages;
  failedByErrno: Record<string, number> = {};
  error: string | undefined;
  readonly started = performance.now();

  constructor(
    readonly addon: NativeAddon,
    readonly options: MovePagesOptions,
  ) {}

  get bytesMoved(): number {
    return this.pagesMoved * this.addon.pageSizeBytes;
  }

  get stopped(): boolean {
    return this.error !== undefined || this.options.signal?.aborted === true;
  }

  progress(): MigrationProgress {
    const { pagesSeen, pagesMoved, pagesAlreadyThere, bytesMoved, calls } = this;
    return { pagesSeen, pagesMoved, pagesAlreadyThere, bytesMoved, calls, elapsedMs: performance.now() - this.started };
  }

  /** Moves the pages in budget-sized calls; returns the pages to retry. */
  async run(pages: readonly number[], retriesLeft: boolean): Promise<number[]> {
    const retry: number[] = [];
    const { pid, targetNode, budgetMs = 20, maxBytesPerSec, moveShared = false } = this.options;
    for (let offset = 0; offset < pages.length && !this.stopped; ) {
      const batch = pages.slice(offset, offset + this.batchPages);
      offset += batch.length;
      const result = await this.addon.movePagesToNode(pid, BigUint64Array.from(batch, BigInt), targetNode, moveShared);
      const callMs = result.elapsedNs / 1e6;
      this.calls++;
      this.maxCallMs = Math.max(this.maxCallMs, callMs);
      if (result.errno !== undefined) {
        this.error = `move_pages on pid ${pid} failed: ${result.error} (${errnoName(result.errno)})${callHints[errnoName(result.errno)] ?? ''}`;
        break;
      }
      const outcome = classifyBatch(result.before, result.after, targetNode, retriesLeft);
      this.pagesMoved += outcome.moved;
      this.pagesAlreadyThere += outcome.alreadyThere;
      for (const [name, count] of Object.entries(outcome.failedByErrno)) this.failedByErrno[name] = (this.failedByErrno[name] ?? 0) + count;
      for (const index of outcome.retry) retry.push(batch[index] as number);
      this.batchPages = nextBatchPages(batch.length, callMs, budgetMs);
      this.options.onProgress?.(this.progress());
      const delayMs = paceDelayMs(this.bytesMoved, performance.now() - this.started, maxBytesPerSec);
      if (delayMs > 0) await sleep(delayMs, undefined, { signal: this.options.signal }).catch(() => undefined);
    }
    return retry;
  }

  result(): MigrationResult {
    return {
      ...this.progress(),
      pagesFailedByErrno: this.failedByErrno,
      pagesRetried: this.pagesRetried,
      maxCallMs: this.maxCallMs,
      cancelled: this.options.signal?.aborted === true,
      ...(this.error === undefined ? {} : { error: this.error }),
    };
  }
}

export async function movePages(options: MovePagesOptions): Promise<MigrationResult> {
  const addon = loadAddon();
  const migration = new Migration(addon, options);
  const maxRetries = options.maxRetries ?? 3;
  let ranges: MappingRange[];
  try {
    ranges = selectPrivateWritable(parseProcMaps(await readFile(`/proc/${options.pid}/maps`, 'utf8')));
  } catch (error) {
    migration.error = `cannot read /proc/${options.pid}/maps: ${(error as Error).message} (has the process exited?)`;
    return migration.result();
  }
  let retry: number[] = [];
  try {
    for await (const pages of listPages(options.pid, ranges, addon.pageSizeBytes)) {
      migration.pagesSeen += pages.length;
      retry.push(...(await migration.run(pages, maxRetries > 0)));
      if (migration.stopped) break;
    }
  } catch (error) {
    migration.error = `cannot read /proc/${options.pid}/pagemap: ${(error as Error).message} (has the process exited?)`;
  }
  for (let round = 1; round <= maxRetries && retry.length > 0 && !migration.stopped; round++) {
    migration.pagesRetried += retry.length;
    await sleep(retryDelayMs);
    retry = await migration.run(retry, round < maxRetries);
  }
  return migration.result();
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
