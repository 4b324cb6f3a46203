// Pure decisions of the paced page migrator: how many pages the next move_pages call gets so
// that it stays within its time budget, how long to wait to honour a bandwidth cap, and what each
// page's status means.
import { constants } from 'node:os';

export const initialBatchPages = 64;
export const minBatchPages = 16;
export const maxBatchPages = 16384;
/** Aim below the budget: call times vary (page faults, lock contention, other tenants). */
const budgetHeadroom = 0.6;

/** The size of the next call from the last one's page count and duration. */
export function nextBatchPages(lastPages: number, lastCallMs: number, budgetMs: number): number {
  const growthCap = Math.min(maxBatchPages, lastPages * 2);
  if (lastPages <= 0 || lastCallMs <= 0) return Math.max(minBatchPages, growthCap);
  const fitting = Math.floor((budgetMs * budgetHeadroom * lastPages) / lastCallMs);
  return Math.max(minBatchPages, Math.min(growthCap, fitting));
}

/** How long to wait before the next call so that bytesMoved over elapsedMs stays under the cap. */
export function paceDelayMs(bytesMoved: number, elapsedMs: number, maxBytesPerSec: number | undefined): number {
  if (maxBytesPerSec === undefined || maxBytesPerSec <= 0) return 0;
  return Math.max(0, (bytesMoved / maxBytesPerSec) * 1000 - elapsedMs);
}

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([name, value]) => [value, name]));

export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `E${errno}`;
}

/** Statuses worth another try: the page was busy, being migrated or briefly unmapped (NUMA balancing). */
export const transientStatuses: ReadonlySet<number> = new Set([-constants.errno.ENOENT, -constants.errno.EBUSY, -constants.errno.EAGAIN]);

export interface BatchOutcome {
  moved: number;
  alreadyThere: number;
  /** Indices of pages to try again. */
  retry: number[];
  /** Pages that failed for good, by errno name. */
  failedByErrno: Record<string, number>;
}

/**
 * Per page: on the target before the call → already there; on it after → moved; a transient
 * negative status → retry (when retries are left); any other negative status → failed.
 */
export function classifyBatch(before: Int32Array, after: Int32Array, targetNode: number, retriesLeft: boolean): BatchOutcome {
  const outcome: BatchOutcome = { moved: 0, alreadyThere: 0, retry: [], failedByErrno: {} };
  for (let index = 0; index < after.length; index++) {
    const status = after[index] as number;
    if (before[index] === targetNode) outcome.alreadyThere++;
    else if (status === targetNode) outcome.moved++;
    else if (retriesLeft && transientStatuses.has(status)) outcome.retry.push(index);
    else {
      // A non-negative status on another node: the kernel kept the page where it was.
      const name = status < 0 ? errnoName(-status) : 'ENOTMOVED';
      outcome.failedByErrno[name] = (outcome.failedByErrno[name] ?? 0) + 1;
    }
  }
  return outcome;
}
