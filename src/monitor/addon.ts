// Loads the native addon (build/Release/cri_rebalancer.node, built by `npm install` through
// binding.gyp) and types its surface. When it is missing or unloadable, the error says what to do.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A perf event as the kernel takes it (perf_event_attr type/config/config1). */
export interface NativeEventSpec {
  readonly name: string;
  readonly type: number;
  readonly config: bigint;
  readonly config1?: bigint;
}

export interface NativeCounterGroup {
  readonly fdCount: number;
  close(): void;
}

export interface NativeCounterReading {
  /** Per event: the delta since the last read, scaled for multiplexing, summed over CPUs. */
  readonly values: Float64Array;
  readonly enabledNs: number;
  readonly runningNs: number;
  readonly error?: string;
}

export interface NativeNumaPrograms {
  readonly attached: string[];
  readonly skipped: string[];
  /** Totals since load: cgroupIds[i] owns counts[i * 8 .. i * 8 + 7] (numa_events.h order). */
  read(): Promise<{ cgroupIds: BigUint64Array; counts: BigUint64Array }>;
  close(): void;
}

export interface NativeErrno {
  readonly errno?: number;
  readonly error?: string;
}

export interface NativePacedOptions {
  moveShared: boolean;
  budgetNs: number;
  /** 0: uncapped. */
  maxBytesPerSec: number;
  maxRetries: number;
  retryDelayNs: number;
  pageBytes: number;
  /** Threads taking batches in turn (>= 1). */
  movers: number;
  recordCalls: boolean;
}

export interface NativeProgressFields {
  pagesSeen: number;
  pagesMoved: number;
  pagesAlreadyThere: number;
  pagesRetried: number;
  calls: number;
  maxCallNs: number;
  elapsedNs: number;
  listNs: number;
  queryNs: number;
  moveNs: number;
  pacingNs: number;
}

export type NativePacedResult = NativeProgressFields & {
  /** Pages that failed for good by errno; "0": the kernel kept the page on another node. */
  failedByErrno: Record<string, number>;
  cancelled: boolean;
  callPages: Uint32Array;
  /** Per recorded call: CLOCK_MONOTONIC at its start, ... */
  callStartNs: Float64Array;
  callNs: Float64Array;
  /** ... the migration thread's CPU time in it, the CPU it ran on (-1: it changed CPUs). */
  callCpuNs: Float64Array;
  callCpu: Int32Array;
} & NativeErrno;

export interface NativeAddon {
  openCounters(options: {
    cgroupPath?: string;
    pid?: number;
    cpus?: number[];
    events: NativeEventSpec[];
  }): NativeCounterGroup;
  readCounters(groups: NativeCounterGroup[]): Promise<NativeCounterReading[]>;
  setPerfFdBudget(budget: number): void;
  perfFdUsage(): { open: number; budget: number };
  /** "" when the event opens here, else the errno's name (ENOENT, EACCES, ...). */
  probePerfEvent(event: NativeEventSpec, cgroupPath?: string, cpu?: number): string;
  readonly bpfBuilt: boolean;
  loadNumaPrograms(
    cpuToNode: number[],
    keyByV1MemoryCgroup: boolean,
  ): Promise<{ programs?: NativeNumaPrograms; reason?: string }>;
  /**
   * The whole paced move on an addon thread (listing the ranges' pages from pagemap first);
   * progress after every kernel call, then the result.
   */
  movePagesPaced(
    pid: number,
    ranges: BigUint64Array,
    targetNode: number,
    options: NativePacedOptions,
    onProgress?: (progress: NativeProgressFields) => void,
  ): { promise: Promise<NativePacedResult>; cancel(): void };
  queryPageNodes(pid: number, addresses: BigUint64Array): Promise<{ nodes: Int32Array } & NativeErrno>;
  migratePages(pid: number, fromNodes: number[], toNodes: number[]): Promise<{ notMoved: number; elapsedNs: number } & NativeErrno>;
  /** "" when move_pages works in this process, else why not. */
  probeMovePages(): string;
  emptyRoundTrip(): Promise<void>;
  /**
   * Writes `bytes` into the temp file `sparePath` (created with `mode` when missing), padded with
   * spaces to the size it keeps, fdatasync, close, then swaps it with `path` (RENAME_EXCHANGE; a
   * plain rename where that cannot be), all on one pool thread: `sparePath` is left holding the
   * old content for the next write. On failure the temp file is gone, `path` is as it was, and the
   * error carries `code` (the errno's name) and `syscall` (the step).
   */
  replaceFileDurably(path: string, sparePath: string, bytes: Buffer, mode: number): Promise<void>;
  /**
   * Opens `path` (0600 when created) and takes an exclusive flock on it without waiting; writes
   * this process's pid into it. The descriptor holds the lock until unlockFile or the process
   * ends. When another process holds it, the error's `code` is EAGAIN and `holder` its pid.
   */
  lockFileExclusive(path: string): number;
  unlockFile(fd: number): void;
  readonly pageSizeBytes: number;
}

export class AddonUnavailableError extends Error {
  override readonly name = 'AddonUnavailableError';
  readonly code = 'ERR_ADDON_UNAVAILABLE';
}

const addonFile = 'cri_rebalancer.node';

/** Where the addon may be: beside the sources (src/, dist/) or the compiled tests (out/src/). */
function candidatePaths(): string[] {
  const override = process.env.CRI_REBALANCER_ADDON;
  if (override !== undefined && override !== '') return [override];
  const here = dirname(fileURLToPath(import.meta.url));
  // src/monitor or dist/monitor; out/src/monitor (compiled tests); the working directory last.
  const roots = [join(here, '..', '..'), join(here, '..', '..', '..'), process.cwd()];
  return roots.flatMap((root) => [join(root, 'build', 'Release', addonFile), join(root, 'build', 'Debug', addonFile)]);
}

/** Turns a load failure into the sentence a user needs. */
export function explainLoadFailure(paths: readonly string[], error: unknown): string {
  if (error === undefined) {
    return (
      `the native addon is not built (looked for ${paths.join(', ')}): run \`npm rebuild\` (or ` +
      '`npx node-gyp rebuild`) in the package directory; it needs make and a C++ compiler, and ' +
      'libbpf-dev, clang and bpftool for the eBPF part'
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  if (/NODE_MODULE_VERSION|different Node\.js version|undefined symbol: napi_/u.test(message)) {
    return `the native addon was built for another Node.js than ${process.version}: run \`npm rebuild\` with this node (${message})`;
  }
  if (/lib\w+\.so[.\d]*: cannot open shared object file/u.test(message)) {
    return `the native addon needs a shared library that is missing: ${message}; install it (e.g. apt-get install libbpf1) or rebuild with \`npm rebuild\``;
  }
  return `the native addon failed to load: ${message}; rebuild it with \`npm rebuild\``;
}

let cached: { addon?: NativeAddon; error?: string } | undefined;

export function loadAddon(): NativeAddon {
  if (cached === undefined) {
    const paths = candidatePaths();
    const path = paths.find((candidate) => existsSync(candidate));
    if (path === undefined) {
      cached = { error: explainLoadFailure(paths, undefined) };
    } else {
      try {
        cached = { addon: createRequire(import.meta.url)(path) as NativeAddon };
      } catch (error) {
        cached = { error: explainLoadFailure(paths, error) };
      }
    }
  }
  if (cached.addon === undefined) throw new AddonUnavailableError(cached.error);
  return cached.addon;
}

export function addonStatus(): { loaded: boolean; error?: string } {
  try {
    loadAddon();
    return { loaded: true };
  } catch (error) {
    return { loaded: false, error: (error as Error).message };
  }
}
