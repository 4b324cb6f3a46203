// The allocation store: holds the current snapshot and checkpoints every new one BEFORE it
// replaces the old in memory, so nobody acts on a change that a crash could forget. Changes go
// through `run` (one at a time) and `commit`, or `stage` for those that reconcile rebuilds after
// a crash (a create's bind, a release), written with the next commit. The history `explain`
// tells is saved apart and later (saveHistory): a crash may lose its last entries, never an
// allocation.
import type { Topology } from '../topology/types.js';
import type { CheckpointFile } from './checkpoint-file.js';
import { formatCheckpoint, formatHistory, parseCheckpoint, parseHistory } from './codec.js';
import { Mutex } from './mutex.js';
import { emptySnapshot, type StateProblem, type StateSnapshot } from './types.js';
import { validateSnapshot } from './validate.js';

export class AllocationStore {
  private current: StateSnapshot;
  /** A staged change is in memory only (see stage). */
  private unwritten = false;
  private readonly mutex = new Mutex();
  /** The history as last saved (or loaded). */
  private savedHistory: StateSnapshot['history'];

  constructor(
    private readonly file: CheckpointFile,
    snapshot: StateSnapshot,
    /** The clock, for history timestamps; injectable for tests. */
    private readonly clock: () => Date = () => new Date(),
    /** Where saveHistory writes; null: the history lives in memory only. */
    private readonly historyFile: CheckpointFile | null = null,
  ) {
    this.current = snapshot;
    this.savedHistory = snapshot.history;
  }

  get snapshot(): StateSnapshot {
    return this.current;
  }

  get path(): string {
    return this.file.path;
  }

  /** The time to stamp on a change, ISO 8601. */
  now(): string {
    return this.clock().toISOString();
  }

  /** Runs `work` alone: no other decision or commit runs until it settles. */
  run<T>(work: () => Promise<T>): Promise<T> {
    return this.mutex.run(work);
  }

  /**
   * Writes `next` durably, then makes it current. A failed write leaves the old snapshot. The
   * same snapshot again is written only when a staged change is not on disk yet.
   */
  async commit(next: StateSnapshot): Promise<void> {
    if (next === this.current && !this.unwritten) return;
    await this.file.write(formatCheckpoint(next));
    this.current = next;
    this.unwritten = false;
  }

  /**
   * Makes `next` current without writing it: the next commit (the next create or pod decision,
   * the periodic reconcile or the stop at the latest) writes it with everything else. Only for a change that
   * reconcile rebuilds when a crash loses it; the caller says why.
   */
  stage(next: StateSnapshot): void {
    if (next === this.current) return;
    this.current = next;
    this.unwritten = true;
  }

  /** Writes the history when it changed since the last save (the periodic reconcile, shutdown). */
  async saveHistory(): Promise<void> {
    const history = this.current.history;
    if (this.historyFile === null || history === this.savedHistory) return;
    await this.historyFile.write(formatHistory(history));
    this.savedHistory = history;
  }
}

export type StoreResult =
  | {
      readonly ok: true;
      readonly store: AllocationStore;
      readonly rebuilt: boolean;
      /** Why the saved history could not be used (the store starts without it); absent when it could. */
      readonly historyProblem?: string;
    }
  | { readonly ok: false; readonly problem: StateProblem };

export interface OpenStoreOptions {
  /** Ignore the checkpoint and start empty: reconcile then rebuilds from the runtime. */
  readonly rebuild?: boolean;
  readonly clock?: () => Date;
  /** Where the history is saved and loaded from. */
  readonly historyFile?: CheckpointFile;
}

type HistoryLoad = { readonly history: StateSnapshot['history']; readonly problem?: string };

/** The saved history; a missing, unreadable or damaged one is no reason not to start. */
async function loadHistory(file: CheckpointFile | undefined): Promise<HistoryLoad> {
  if (file === undefined) return { history: [] };
  let text: string | null;
  try {
    text = await file.read();
  } catch (error) {
    return { history: [], problem: `cannot read history file ${file.path}: ${(error as Error).message}` };
  }
  if (text === null) return { history: [] };
  const parsed = parseHistory(text, file.path);
  return parsed.ok ? { history: parsed.history } : { history: [], problem: parsed.message };
}

/** Loads and validates the checkpoint (none yet: empty state), and the saved history. */
export async function openStore(file: CheckpointFile, topology: Topology, options: OpenStoreOptions = {}): Promise<StoreResult> {
  const clock = options.clock ?? (() => new Date());
  let snapshot: StateSnapshot = emptySnapshot;
  if (options.rebuild !== true) {
    let text: string | null;
    try {
      text = await file.read();
    } catch (error) {
      return {
        ok: false,
        problem: { code: 'unreadable', message: `cannot read state checkpoint ${file.path}: ${(error as Error).message}; check the path and permissions (the daemon runs as root)` },
      };
    }
    if (text !== null) {
      const parsed = parseCheckpoint(text, file.path);
      if (!parsed.ok) return parsed;
      const problem = validateSnapshot(parsed.snapshot, topology, file.path);
      if (problem !== null) return { ok: false, problem };
      snapshot = parsed.snapshot;
    }
  }
  const history = await loadHistory(options.historyFile);
  const loaded = history.history.length === 0 ? snapshot : { ...snapshot, history: history.history };
  const store = new AllocationStore(file, loaded, clock, options.historyFile ?? null);
  return { ok: true, store, rebuilt: options.rebuild === true, ...(history.problem === undefined ? {} : { historyProblem: history.problem }) };
}
