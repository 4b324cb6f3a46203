// Small fakes for the daemon's unit tests: an in-memory checkpoint file, a runtime that records
// what it is asked, a logger that keeps its lines, and a store + engine on a generated topology.
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { defaultPolicy } from '../../src/config/defaults.js';
import type { Policy } from '../../src/config/types.js';
import { CpusetApplier } from '../../src/state/apply-updates.js';
import type { CheckpointFile } from '../../src/state/checkpoint-file.js';
import { bindPlacementEngine } from '../../src/state/engine.js';
import type { PlacementEngine, RuntimeContainerDetail, RuntimeContainerSummary, RuntimeCpuset, RuntimePort, RuntimeSandboxSummary } from '../../src/state/ports.js';
import { AllocationStore } from '../../src/state/store.js';
import { emptySnapshot, type StateSnapshot } from '../../src/state/types.js';
import type { CpuSet } from '../../src/topology/cpuset.js';
import { discoverTopologySync } from '../../src/topology/discover.js';
import type { Topology } from '../../src/topology/types.js';
import { qemuTwoNode } from '../fixtures/specs.js';
import { generateSysfsTree } from './sysfs-fixtures.js';

/** 4 CPUs, node 0 = 0-1, node 1 = 2-3. */
export const twoNodeTopology: Topology = discoverTopologySync(generateSysfsTree(qemuTwoNode).root);

export class MemoryCheckpointFile implements CheckpointFile {
  readonly path = '/memory/state.json';
  text: string | null = null;
  writes = 0;
  failNext: Error | null = null;

  async read(): Promise<string | null> {
    return this.text;
  }

  async write(text: string): Promise<void> {
    if (this.failNext !== null) {
      const error = this.failNext;
      this.failNext = null;
      throw error;
    }
    this.text = text;
    this.writes++;
  }
}

export interface UpdateCall {
  readonly id: string;
  readonly cpus: string;
  readonly mems: string;
}

export class FakeRuntime implements RuntimePort {
  sandboxes: RuntimeSandboxSummary[] = [];
  containers: RuntimeContainerSummary[] = [];
  details = new Map<string, RuntimeContainerDetail | null>();
  updates: UpdateCall[] = [];
  /** Container id → the gRPC code its next update fails with. */
  failUpdates = new Map<string, number>();
  failLists: Error | null = null;

  async listSandboxes(): Promise<readonly RuntimeSandboxSummary[]> {
    if (this.failLists !== null) throw this.failLists;
    return this.sandboxes;
  }

  async listContainers(): Promise<readonly RuntimeContainerSummary[]> {
    if (this.failLists !== null) throw this.failLists;
    return this.containers;
  }

  async inspectContainer(container: RuntimeContainerSummary): Promise<RuntimeContainerDetail | null> {
    return this.details.get(container.id) ?? null;
  }

  /** Sandbox ids the runtime does not have (every other one exists). */
  missingSandboxIds = new Set<string>();
  /** How often the lifecycle asked whether a sandbox exists. */
  sandboxQueries = 0;

  async sandboxExists(id: string): Promise<boolean> {
    this.sandboxQueries++;
    if (this.failLists !== null) throw this.failLists;
    return !this.missingSandboxIds.has(id);
  }

  /** Container id → the cpuset the runtime holds (updates change it); absent: gone. */
  cpusets = new Map<string, RuntimeCpuset>();

  async readCpuset(id: string): Promise<RuntimeCpuset | null> {
    return this.cpusets.get(id) ?? null;
  }

  async updateCpuset(id: string, cpus: CpuSet, mems: CpuSet): Promise<void> {
    const code = this.failUpdates.get(id);
    if (code !== undefined) {
      this.failUpdates.delete(id);
      throw Object.assign(new Error(`update of ${id} failed`), { code });
    }
    this.updates.push({ id, cpus: cpus.format(), mems: mems.format() });
    this.cpusets.set(id, { cpus, mems });
  }
}

export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [key: string]: unknown;
}

/** A stream that keeps the JSON log lines written to it (give it to pino or the daemon). */
export function memoryLogSink(): { stream: Writable; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  return { stream, lines };
}

export function memoryLogger(): { log: Logger; lines: LogLine[] } {
  const { stream, lines } = memoryLogSink();
  return { log: pino({ level: 'debug' }, stream), lines };
}

export interface DaemonParts {
  readonly file: MemoryCheckpointFile;
  readonly store: AllocationStore;
  readonly engine: PlacementEngine;
  readonly runtime: FakeRuntime;
  readonly applier: CpusetApplier;
  readonly log: Logger;
  readonly lines: LogLine[];
  policy: Policy;
}

export function daemonParts(placement: Partial<Policy['placement']> = {}, snapshot: StateSnapshot = emptySnapshot): DaemonParts {
  const file = new MemoryCheckpointFile();
  const store = new AllocationStore(file, snapshot, () => new Date('2026-01-01T00:00:00Z'));
  const runtime = new FakeRuntime();
  const { log, lines } = memoryLogger();
  const parts: DaemonParts = {
    file,
    store,
    runtime,
    log,
    lines,
    applier: new CpusetApplier(runtime, log),
    policy: { ...defaultPolicy, placement: { ...defaultPolicy.placement, ...placement } },
    engine: undefined as unknown as PlacementEngine,
  };
  (parts as { engine: PlacementEngine }).engine = bindPlacementEngine(twoNodeTopology, () => parts.policy);
  return parts;
}

/** Quiet stderr while `work` runs (start-up failures print their message there); returns what was written. */
export async function capturingStderr<T>(work: () => Promise<T>): Promise<{ result: T; stderr: string }> {
  const written: string[] = [];
  const original = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string) => written.push(chunk) > 0) as typeof process.stderr.write;
  try {
    return { result: await work(), stderr: written.join('') };
  } finally {
    process.stderr.write = original;
  }
}
